#!/bin/bash
# usage: run.sh NAME SEED [args...]
name=$1; seed=$2; shift 2
cd /work/main
start=$(date +%s.%N)
/tmp/fast-search/digits train --validation-split 0.1 --seed $seed --out /tmp/fast-search/runs/$name-s$seed --overwrite "$@" > /tmp/fast-search/runs/$name-s$seed.log 2>&1
end=$(date +%s.%N)
wall=$(echo "$end - $start" | bc)
eps=$(grep -o 'Epoch [0-9]*/[0-9]* - [0-9.]*s [0-9.]*ms/step' /tmp/fast-search/runs/$name-s$seed.log | awk '{print $4, $5}' | tr '\n' ' ')
vals=$(grep -o 'val_accuracy: [0-9.]*' /tmp/fast-search/runs/$name-s$seed.log | awk '{print $2}' | tr '\n' ' ')
hdr=$(head -1 /tmp/fast-search/runs/$name-s$seed.log | grep -o '([0-9]* params)')
echo "$name s$seed $hdr | val: $vals| epochs: $eps| wall ${wall}s | $*" | tee -a /tmp/fast-search/results.txt
