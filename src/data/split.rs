//! Seeded, stratified splits: train/validation and k-fold.
//!
//! Both work class by class so every part keeps the class proportions of the whole. Each
//! class's record indices are shuffled with a ChaCha8 generator seeded from `seed` (classes
//! visited in label order, one generator for all), so a seed always gives the same split on any
//! machine, and a different seed gives a different one.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::Error;

/// The record indices of each label value, ascending, for label values that occur, in label
/// order. Works for any `u8` label, not only digits.
fn indices_by_class(labels: &[u8]) -> Vec<Vec<usize>> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    by_class.retain(|c| !c.is_empty());
    by_class
}

/// Splits record indices into `(train, validation)`, stratified by label.
///
/// For each class, its indices are shuffled (seeded) and `round(fraction * class_count)` of
/// them go to validation, the rest to training. Both lists are sorted ascending; together they
/// hold every index exactly once.
///
/// Fails if `fraction` is not strictly between 0 and 1.
pub fn stratified_split(labels: &[u8], fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>), Error> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::Invalid(format!("validation fraction must be between 0 and 1 (exclusive), got {fraction}")));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(labels.len());
    let mut val = Vec::new();
    for mut class in indices_by_class(labels) {
        class.shuffle(&mut rng);
        let n_val = ((fraction * class.len() as f64).round() as usize).min(class.len());
        val.extend_from_slice(&class[..n_val]);
        train.extend_from_slice(&class[n_val..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    Ok((train, val))
}

/// Assigns record indices to `k` folds, stratified by label.
///
/// Each class's indices are shuffled (seeded) and dealt round-robin to the folds; the dealing
/// continues from class to class rather than restarting at fold 0, so fold sizes differ by at
/// most one overall and each class's count differs by at most one between folds. Returns the
/// `k` folds, each sorted ascending; together they hold every index exactly once.
///
/// Fails if `k < 2` or `k` exceeds the number of records (a fold would be empty).
pub fn stratified_kfold(labels: &[u8], k: usize, seed: u64) -> Result<Vec<Vec<usize>>, Error> {
    if k < 2 {
        return Err(Error::Invalid(format!("k-fold needs at least 2 folds, got {k}")));
    }
    if k > labels.len() {
        return Err(Error::Invalid(format!("cannot make {k} folds from {} records", labels.len())));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut folds: Vec<Vec<usize>> = vec![Vec::with_capacity(labels.len() / k + 1); k];
    let mut next = 0;
    for mut class in indices_by_class(labels) {
        class.shuffle(&mut rng);
        for i in class {
            folds[next].push(i);
            next = (next + 1) % k;
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    Ok(folds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uneven classes: class `c` gets about `c + 1` shares of the records.
    fn labels(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                let v = (i * 7919) % 55; // 55 = 1 + 2 + ... + 10
                let mut c = 0;
                while v >= (c + 1) * (c + 2) / 2 {
                    c += 1;
                }
                c as u8
            })
            .collect()
    }

    #[test]
    fn split_is_stratified_disjoint_and_complete() {
        let ls = labels(1000);
        let (train, val) = stratified_split(&ls, 0.2, 42).unwrap();
        assert_eq!(train.len() + val.len(), ls.len());
        let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..ls.len()).collect::<Vec<_>>());
        assert!(train.is_sorted() && val.is_sorted());
        for c in 0..10u8 {
            let total = ls.iter().filter(|&&l| l == c).count();
            let in_val = val.iter().filter(|&&i| ls[i] == c).count();
            assert!((in_val as f64 - 0.2 * total as f64).abs() <= 1.0, "class {c}");
        }
    }

    #[test]
    fn split_depends_only_on_seed() {
        let ls = labels(500);
        assert_eq!(stratified_split(&ls, 0.3, 1).unwrap(), stratified_split(&ls, 0.3, 1).unwrap());
        assert_ne!(stratified_split(&ls, 0.3, 1).unwrap(), stratified_split(&ls, 0.3, 2).unwrap());
    }

    #[test]
    fn split_rejects_bad_fractions() {
        for f in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            let e = stratified_split(&[1, 2, 3], f, 0).unwrap_err();
            assert!(e.to_string().contains("fraction"), "{e}");
        }
        assert_eq!(stratified_split(&[], 0.5, 0).unwrap(), (vec![], vec![]));
    }

    #[test]
    fn kfold_is_balanced_and_complete() {
        let ls = labels(1003);
        let folds = stratified_kfold(&ls, 5, 9).unwrap();
        assert_eq!(folds.len(), 5);
        let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..ls.len()).collect::<Vec<_>>());
        for c in 0..10u8 {
            let per: Vec<usize> = folds.iter().map(|f| f.iter().filter(|&&i| ls[i] == c).count()).collect();
            assert!(per.iter().max().unwrap() - per.iter().min().unwrap() <= 1, "class {c}: {per:?}");
        }
        assert_eq!(folds, stratified_kfold(&ls, 5, 9).unwrap());
        assert_ne!(folds, stratified_kfold(&ls, 5, 10).unwrap());
    }

    #[test]
    fn kfold_rejects_bad_k() {
        assert!(stratified_kfold(&[1, 2, 3], 1, 0).unwrap_err().to_string().contains("at least 2"));
        assert!(stratified_kfold(&[1, 2, 3], 4, 0).is_err());
    }
}
