#!/bin/sh
# Issue 19, the memory half, on one GPU: a seeded proof in lean mode must equal the reference proof byte
# for byte (when the vectors are found), then 2^21, 2^22 and 2^23 are proved in the memory mode the model
# picks (full, half, lean on an 80 GB card; cosets kept where they fit: both at 2^20) and verified; every
# --keep-cosets choice also proves halt byte-identically; bench_prove prints the table (time per stage,
# mode (+kept cosets) and coset rows, model and nvidia-smi peak device memory, host peak RSS).
set -e
cd "$(dirname "$0")/.."
vectors=${TVMPD_VECTORS:-../shared/vectors}
if [ -f "$vectors/proofs/halt.seed" ]; then
    out=$(mktemp)
    python3 -m tvmpd prove "$vectors/requests/halt.req" --backend opencl --memory-mode lean \
        --seed "$(cat "$vectors/proofs/halt.seed")" -o "$out"
    cmp "$out" "$vectors/proofs/halt.proof" && echo "seeded halt, lean mode: byte-identical to the reference"
    for keep in none main aux both; do
        python3 -m tvmpd prove "$vectors/requests/halt.req" --backend opencl --keep-cosets "$keep" \
            --seed "$(cat "$vectors/proofs/halt.seed")" -o "$out"
        cmp "$out" "$vectors/proofs/halt.proof" && echo "seeded halt, kept cosets $keep: byte-identical"
    done
    rm -f "$out"
else
    echo "no vectors at $vectors (set TVMPD_VECTORS): seeded check skipped"
fi
python3 tools/bench_prove.py --backend opencl --log2 21 22 23 --verify
