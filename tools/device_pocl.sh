#!/usr/bin/env bash
# pocl on the GPU machine's CPU cores (issue 18's 16-core figures), where no pocl is installed.
#
#   tools/device_pocl.sh pack   # here, project root: .cpu/pocl.tar.xz (about 29 MB), kept out of git
#   tools/device_pocl.sh run    # there: CPU figures with the GPU idle, tables under $OUT
#                                 (POCL_COLD="12": cold runs of 2^12 only; POCL_NO_POOL=1: no bench_pool)
#
# The device tool carries at most 64 MiB, and .whl (59 MB) plus pocl's wheel (58 MB) do not fit one call.
# So `run` needs a machine on which a call carrying .whl has just run `source .whl/prelude.sh` (it installs
# the wheels into /tmp/site, which stays while the machine is warm, about 30 s idle); call `run` next,
# carrying [".vec", ".cpu"]. `pack` keeps only the avx2 and avx512 kernel libraries of pocl and does not
# strip libpocl: strip --strip-unneeded leaves it unloadable ("ELF load command address/offset not
# page-aligned"), and the ICD loader then silently lists NVIDIA's platform alone.
set -euo pipefail

pack() {
    local tmp
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" pocl-binary-distribution==3.0
    mkdir "$tmp/x"
    python3 -m zipfile -e "$tmp"/pocl_binary_distribution-*.whl "$tmp/x"
    find "$tmp/x" -name 'kernel-x86_64-*.bc' ! -name '*-avx2.bc' ! -name '*-avx512.bc' -delete
    mkdir -p .cpu .git/info
    grep -qx '/.cpu/' .git/info/exclude 2>/dev/null || echo '/.cpu/' >> .git/info/exclude
    tar -cJf .cpu/pocl.tar.xz -C "$tmp/x" .
    rm -rf "$tmp"
    ls -la .cpu/pocl.tar.xz
}

run() {
    test -d /tmp/site/numba || { echo "no /tmp/site: run right after a call that sourced .whl/prelude.sh"; exit 3; }
    export PYTHONPATH=/tmp/site:$PWD OCL_ICD_VENDORS=/tmp/icd PYTHONUNBUFFERED=1 TVMPD_VECTORS=$PWD/.vec
    tar -xJf .cpu/pocl.tar.xz -C /tmp/site
    mkdir -p /tmp/icd
    echo /tmp/site/pyopencl/.libs/libpocl-21062cec.so > /tmp/icd/pocl.icd
    echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    local key out=${OUT:-/tmp} cli="python3 -m tvmpd.supervisor.cli" cache n run
    key=$(python3 -c "from tvmpd.opencl.devices import cpu_device; d = cpu_device(); print(d.key if d else '')")
    test -n "$key" || { echo "pocl is not listed by the ICD loader"; exit 4; }
    echo "pocl: $key"
    python3 -c "from tools.loadgen import request_fields as r
for n in (12, 14, 16): open(f'/tmp/loop{n}.req', 'w').write(chr(10).join(r(n, 0)) + chr(10))"
    for n in ${POCL_COLD:-12 14}; do  # cold (every cache empty), then warm, each proof verified
        cache=$(mktemp -d)
        for run in cold warm; do
            XDG_CACHE_HOME=$cache NUMBA_CACHE_DIR=$cache/numba /usr/bin/time -f "2^$n $run: %e s wall, %U s user" \
                $cli prove --backend opencl --device "$key" /tmp/loop$n.req -o "$cache/p" 2>&1 | tail -1
            $cli verify /tmp/loop$n.req "$cache/p" | tail -1
        done
    done
    cache=$(mktemp -d)
    XDG_CACHE_HOME=$cache NUMBA_CACHE_DIR=$cache/numba /usr/bin/time -f "tvmpd build: %e s wall, %U s user" \
        $cli build --device "$key" 2>&1 | tail -1
    XDG_CACHE_HOME=$cache NUMBA_CACHE_DIR=$cache/numba timeout 300 python3 tools/bench_prove.py --backend opencl \
        --device "$key" --log2 12 14 16 --verify > "$out/cpu_bench.txt" 2>&1 || echo "bench_prove: exit $?"
    tail -30 "$out/cpu_bench.txt"
    [ -n "${POCL_NO_POOL:-}" ] && return
    XDG_CACHE_HOME=$cache NUMBA_CACHE_DIR=$cache/numba timeout 200 python3 tools/bench_pool.py --workers 1 4 \
        --log2 10 12 --jobs 4 > "$out/cpu_pool.txt" 2>&1 || echo "bench_pool: exit $?"
    tail -8 "$out/cpu_pool.txt"
}

case "${1:-}" in
    pack) pack ;;
    run) run ;;
    *) echo "usage: tools/device_pocl.sh pack|run"; exit 2 ;;
esac
