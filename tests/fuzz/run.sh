#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan) straight from the
# sources and runs each for a bounded time. Not part of `make check`.
#
#   tests/fuzz/run.sh [seconds-per-target] [target...]
#
# The seconds are wall-clock time, unless FUZZ_CPU=1: then each target runs
# until its process has used that many seconds of CPU (user + system, read
# from /proc), so that a run at a low priority on a busy machine still gets
# its budget; the log ends with the CPU seconds used ("cpu_seconds: N").
#
# Environment: FUZZ_TIMEOUT (seconds one input may take, default 10; raise it
# when fuzzing at a low priority on a busy machine; it is wall time, so a
# fuzzer paused with SIGSTOP for longer reports a false "timeout": check a
# timeout-* artifact by running the binary on it), FUZZ_BUILD_DIR (default:
# $TMPDIR/meshcached-fuzz) holds the binaries, the working corpora and any
# crash artifacts; CONFIG_H_DIR (default: build/, then the source root) is
# where configure wrote config.h.
# Crashing inputs are kept; copy them into tests/fuzz/corpus/<target>/ as
# regression seeds once the bug is fixed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-30}
[ $# -gt 0 ] && shift
targets=${*:-"fuzz_proto fuzz_meta_flags fuzz_peer_reply fuzz_route fuzz_gmsg fuzz_replmsg fuzz_aemsg fuzz_admintext"}
out=${FUZZ_BUILD_DIR:-${TMPDIR:-/tmp}/meshcached-fuzz}
cc=${CC_FUZZ:-clang}

confdir=${CONFIG_H_DIR:-}
if [ -z "$confdir" ]; then
    for d in "$top/build" "$top"; do
        if [ -f "$d/config.h" ]; then
            confdir=$d
            break
        fi
    done
fi
if [ -z "$confdir" ] || [ ! -f "$confdir/config.h" ]; then
    echo "run.sh: no config.h found; run configure (e.g. in build/) first" >&2
    exit 2
fi

mkdir -p "$out"
srcs=$(ls "$top"/src/*/*.c)
# the dashboard's assets, which make generates into the build tree
[ -f "$confdir/src/admin/admin_assets.c" ] && srcs="$srcs $confdir/src/admin/admin_assets.c"
cflags="-g -O1 -D_GNU_SOURCE -I$top/src -I$confdir -fsanitize=fuzzer,address,undefined \
-fno-sanitize-recover=all -fno-omit-frame-pointer -pthread \
$(pkg-config --cflags libevent libevent_pthreads libmurmurhash libsodium openssl jansson)"
libs="$(pkg-config --libs libevent libevent_pthreads libmurmurhash libsodium openssl jansson) -lnng -lm"
# liburing is optional (configure's --without-liburing): link it when
# config.h says the sources use it
if grep -q '^#define HAVE_LIBURING 1' "$confdir/config.h"; then
    cflags="$cflags $(pkg-config --cflags liburing)"
    libs="$libs $(pkg-config --libs liburing)"
fi

# The CPU seconds process $1 has used so far (nothing once it is gone).
cpu_of() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print int(($12 + $13) / hz) }' \
        "/proc/$1/stat" 2>/dev/null
}

# Runs the fuzzer (its arguments) with the log on fd 3; with FUZZ_CPU=1,
# stops it (SIGINT, after which libFuzzer prints its final stats and exits
# 72) once it has used $secs seconds of CPU.
fuzz_one() {
    if [ "${FUZZ_CPU:-0}" != 1 ]; then
        "$@" -max_total_time="$secs" >&3 2>&1
        return
    fi
    "$@" >&3 2>&1 &
    pid=$!
    used=0
    while kill -0 "$pid" 2>/dev/null; do
        used=$(cpu_of "$pid")
        [ -n "$used" ] || break
        if [ "$used" -ge "$secs" ]; then
            kill -INT "$pid" 2>/dev/null || true
            break
        fi
        sleep 5
    done
    rc=0
    wait "$pid" || rc=$?
    echo "cpu_seconds: $used" >&3
    [ "$rc" -eq 0 ] || [ "$rc" -eq 72 ]
}

status=0
for t in $targets; do
    echo "== $t: building"
    # shellcheck disable=SC2086
    $cc $cflags -o "$out/$t" "$here/$t.c" $srcs $libs
    mkdir -p "$out/corpus-$t" "$out/artifacts-$t"
    seeds="$here/corpus/${t#fuzz_}"
    [ -d "$seeds" ] || seeds=
    dict=
    [ -f "$here/${t#fuzz_}.dict" ] && dict="-dict=$here/${t#fuzz_}.dict"
    echo "== $t: running for ${secs}s$([ "${FUZZ_CPU:-0}" = 1 ] && echo ' of CPU')"
    # New inputs go to the working corpus, never into the source tree.
    # shellcheck disable=SC2086
    if ! fuzz_one "$out/$t" -timeout=${FUZZ_TIMEOUT:-10} -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts-$t/" $dict \
        "$out/corpus-$t" $seeds 3>"$out/$t.log"; then
        status=1
        echo "== $t: FAILED; see $out/$t.log and $out/artifacts-$t/" >&2
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_)' "$out/$t.log" | head -5 >&2 || true
    fi
    grep -E '^(stat::(number_of_executed_units|new_units_added)|cpu_seconds)' "$out/$t.log" || true
    ls "$out/artifacts-$t" 2>/dev/null | sed "s|^|   artifact: $out/artifacts-$t/|"
done
exit $status
