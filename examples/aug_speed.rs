use digits::data::augment::{AugmentConfig, augment_batch};
fn main() {
    let d = digits::data::load_mnist(std::path::Path::new("data/mnist"), digits::data::Split::Train).unwrap();
    let ids: Vec<usize> = (0..d.len()).collect();
    let mut out = vec![0.0f32; 128 * 784];
    for (name, cfg) in [
        ("affine", AugmentConfig::notebook()),
        ("elastic", AugmentConfig { elastic_alpha: 34.0, elastic_sigma: 4.0, ..AugmentConfig::notebook() }),
    ] {
        let t = std::time::Instant::now();
        for c in ids.chunks(128) {
            augment_batch(&cfg, &d.images, c, 28, 28, 1, 1, &mut out);
        }
        println!("{name}: {:.3} s per 60k", t.elapsed().as_secs_f64());
    }
}
