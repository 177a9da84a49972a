#!/usr/bin/env bash
# Issue 19's GPU figures in as few device calls as the device tool allows (it is often unavailable, and a
# fresh machine pays the AIR kernel build, about 2 min, once; later calls within 30 s reuse the machine).
#
#   tools/gpu_session.sh prep                    # here: fills .whl and .vec so that both fit one carry
#   tools/gpu_session.sh check bench21 keep21    # there, carry [".whl", ".vec"]: the named steps in order
#
# Steps (each under its own time limit, so one slow step leaves the others' output):
#   check      seeded halt and all_tables byte-identical to the reference on the GPU (pays the AIR build)
#   bench21    2^21 in the mode the memory model picks, verified, and again keeping no coset values
#   keep21     2^21 keeping the aux table's coset values (not the model's choice on 80 GB), verified
#   profile21  per-kernel table of 2^21 (tools/profile_prove.py --top 30)
#   daemon21   t_prove of 2^21 jobs through a warm daemon (tools/daemon_scenario.py --large 21 --burst 10 12)
#   regs       registers and spills of the hand-written kernels (tools/kernel_registers.py)
#   ab         core-kernel timings (tools/bench_core.py) of this tree and of the .cl files in $AB_DIR
# KEEP="--keep-memory 79.2" makes bench21 and profile21 keep on an H200 what an 80 GB H100 would
# (the default on a card over 100 GB; KEEP= turns it off).
#   big        2^22 and 2^23 in the model's modes (minutes)
# A call has at most 10 minutes: check + bench21 + keep21 fit one call on an H100, the others the next.
set -u
cd "$(dirname "$0")/.."

prep() {
    set -e
    ../shared/device/fetch-wheels.sh numba llvmlite prometheus-client
    python3 tools/shrink_wheel.py .whl/llvmlite-*.whl  # numba 0.68's llvmlite: 59.7 MB deflated, 40.6 MB LZMA
    rm -rf .vec && mkdir -p .vec .git/info
    cp -r ../shared/vectors/. .vec/ && rm -rf .vec/tables .vec/proofs/*.transcript.json
    grep -qx '/.vec/' .git/info/exclude || echo '/.vec/' >> .git/info/exclude
    du -sh .whl .vec
}

step() {  # name, seconds, command...
    local name=$1 limit=$2 t0=$SECONDS
    shift 2
    echo "== $name"
    local log=${OUT:-/tmp}/${name//[ \/]/_}.txt  # the whole output comes back under $OUT; the tail is shown
    timeout "$limit" "$@" 2>&1 | grep -v "CompilerWarning\|_prg.build" > "$log"
    local rc=${PIPESTATUS[0]}
    tail -40 "$log"
    echo "== $name: exit $rc, $((SECONDS - t0)) s"
}

if [ "${1:-}" = prep ]; then prep; exit; fi
[ $# -gt 0 ] || { echo "usage: tools/gpu_session.sh prep | STEP..."; exit 2; }
if [ -z "${OCL_ICD_VENDORS:-}" ]; then
    # shellcheck disable=SC1091
    source .whl/prelude.sh >/dev/null || { echo "no .whl (run prep here first)"; exit 3; }
fi
export TVMPD_VECTORS=$PWD/.vec XDG_CACHE_HOME=${XDG_CACHE_HOME:-/tmp/xdgcache}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ -z "${KEEP+x}" ] && [ "$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)" -gt 100000 ]; then
    KEEP="--keep-memory 79.2"  # a card larger than 80 GB keeps what an H100 would, so figures compare
    echo "KEEP=$KEEP"
fi
KEEP=${KEEP:-}
for s in "$@"; do
    case $s in
        check) step check 300 python3 tools/check_prove_device.py --vectors .vec halt all_tables ;;
        bench21)
            step bench21 180 python3 tools/bench_prove.py --backend opencl --log2 21 --verify $KEEP
            step bench21-keep-none 120 python3 tools/bench_prove.py --backend opencl --log2 21 --keep-cosets none ;;
        keep21) step keep21 150 python3 tools/bench_prove.py --backend opencl --log2 21 --keep-cosets aux --verify ;;
        profile21) step profile21 200 python3 tools/profile_prove.py --log2 21 --top 30 $KEEP ;;
        daemon21) step daemon21 300 python3 tools/daemon_scenario.py --large 21 --burst 10 12 ;;
        regs) step regs 60 python3 tools/kernel_registers.py ;;
        ab) # kernels of this tree against the .cl files in $AB_DIR (carried), one commit of 2^21 rows each
            for dir in "" "$AB_DIR"; do
                step "ab ${dir:-tree}" 120 python3 tools/bench_core.py --backend opencl --min-log 21 --max-log 21 \
                    --commit-log 21 --repeat 3 ${dir:+--kernel-dir "$dir"}
            done ;;
        big) step big 400 python3 tools/bench_prove.py --backend opencl --log2 22 23 ;;
        *) echo "unknown step $s" ;;
    esac
done
