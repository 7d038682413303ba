#!/usr/bin/env bash
# foundation.sh - arbor versus Debian's ostree on the same trees, same conditions, one run.
#
#   sudo bench/foundation.sh                  # REPEAT=5, cold page cache, go-1.26.8 + rootfs-r1
#   sudo REPEAT=3 bench/foundation.sh
#
# Per tree it measures, alternating the tools run by run (odd runs arbor first, even runs
# ostree first), and reports the MEDIAN of REPEAT samples:
#   commit    archive repository: `init --mode archive` (untimed) + `commit -b b TREE` (timed):
#             wall seconds and peak RSS (GNU time -v); CPU (user+sys) for information
#   checkout  bare repository (committed once per tool, untimed): `checkout b DIR` (timed);
#             ostree hard-links from a bare repository by default, so does arbor
#   size      the archive repositories the commit phase produced, `du -s --block-size=1`
#             (allocated) and `du -s --apparent-size --block-size=1`
# Targets: arbor commit >= 2x faster than ostree, arbor commit peak RSS <= 256 MiB, arbor
# checkout at least as fast as ostree, arbor archive repository no larger than ostree's.
#
# Env (defaults in brackets):
#   WORK [/tmp/otabench]       scratch: trees ($WORK/trees), arbor binary, repositories
#   TREES ["go-1.26.8 rootfs-r1"]  trees under $WORK/trees to measure
#   REPEAT [5]                 samples per tool and measurement (median reported)
#   CACHE [cold]               cold: `sync; echo 3 > /proc/sys/vm/drop_caches` before every timed
#                              command (falls back to warm if that is not permitted);
#                              warm: trees read once up front, then `sync` only before every timed command
#   OSTREE_COMMIT_FLAGS []     extra flags for `ostree commit` (e.g. --no-xattrs; default none:
#                              ostree reads xattrs, as arbor does)
#   ARBOR_REV []               build arbor from this git revision (git archive into $WORK, the
#                              checkout is not touched) instead of the working tree
#   SHARED [<repo>/../shared]  where bench/make-trees.sh lives (called if a tree is missing)
#   STRICT [0]                 1 = exit 1 when a target is missed
#   REPORT_ONLY []             <UTC stamp> of a past run: render its raw/meta TSVs again, measure nothing
# Output: bench/results/foundation-<UTC stamp>{-raw.tsv,-meta.tsv,.tsv,.md}, copied to
# bench/results/latest{-raw.tsv,-meta.tsv,.tsv,.md}; the table is printed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${WORK:-/tmp/otabench}
TREES=${TREES:-"go-1.26.8 rootfs-r1"}
REPEAT=${REPEAT:-5}
CACHE=${CACHE:-cold}
OSTREE_COMMIT_FLAGS=${OSTREE_COMMIT_FLAGS:-}
ARBOR_REV=${ARBOR_REV:-}
STRICT=${STRICT:-0}
RES=$HERE/results
FW=$WORK/foundation          # repositories, checkouts, logs of this script
LOGS=$FW/logs
ARBOR=$WORK/arbor
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RES/foundation-$STAMP-raw.tsv
SUM=$RES/foundation-$STAMP.tsv
MD=$RES/foundation-$STAMP.md
META=$RES/foundation-$STAMP-meta.tsv
CMDLINE="$(for v in WORK TREES REPEAT CACHE OSTREE_COMMIT_FLAGS ARBOR_REV; do
  if [ -n "${!v}" ]; then printf '%s=%q ' "$v" "${!v}"; fi; done)$0"

log() { printf '[foundation %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

render() { # renders $META $RAW into $SUM and $MD; returns 3 when a target is missed
  python3 - "$META" "$RAW" "$SUM" "$MD" <<'PY'
import statistics, sys
from collections import defaultdict

metaf, raw, sumf, mdf = sys.argv[1:5]
meta = [l.split("\t", 1) for l in open(metaf).read().splitlines() if "\t" in l]
S = defaultdict(list)          # (tree, phase, tool, metric) -> values
trees = []
with open(raw) as f:
    next(f)
    for line in f:
        tree, phase, tool, run, order, metric, value = line.rstrip("\n").split("\t")
        if tree not in trees:
            trees.append(tree)
        S[(tree, phase, tool, metric)].append(float(value))

def med(tree, phase, tool, metric):
    v = S.get((tree, phase, tool, metric))
    return statistics.median(v) if v else None

def spread(tree, phase, tool, metric):
    v = S.get((tree, phase, tool, metric)) or []
    return (min(v), max(v)) if v else (None, None)

MiB = 1 << 20
def secs(x): return "%.2f s" % x
def mib(x): return "%.1f MiB" % (x / MiB)
def mb(x): return "%.1f MB" % (x / 1e6)

# rows: label, phase, metric, scale, fmt, ratio kind, target text, pass test
rows = [
    ("commit wall (archive)", "commit", "wall_s", 1, secs, "ostree/arbor",
     "ostree/arbor >= 2.00", lambda a, o, r: r >= 2.0),
    ("commit peak RSS", "commit", "rss_kb", 1024, mib, "arbor/ostree",
     "arbor <= 256 MiB", lambda a, o, r: a <= 256 * MiB),
    ("checkout wall (bare)", "checkout", "wall_s", 1, secs, "ostree/arbor",
     "ostree/arbor >= 1.00", lambda a, o, r: r >= 1.0),
    ("archive repo, du (allocated)", "size", "disk_bytes", 1, mb, "arbor/ostree",
     "arbor/ostree <= 1.00", lambda a, o, r: r <= 1.0),
    ("archive repo, du --apparent-size", "size", "apparent_bytes", 1, mb, "arbor/ostree",
     "arbor/ostree <= 1.00", lambda a, o, r: r <= 1.0),
]
info = [
    ("commit CPU user+sys", "commit", "cpu_s", 1, secs, "ostree/arbor"),
    ("checkout peak RSS", "checkout", "rss_kb", 1024, mib, "arbor/ostree"),
    ("checkout CPU user+sys", "checkout", "cpu_s", 1, secs, "ostree/arbor"),
    ("archive repo, files", "size", "files", 1, lambda x: "%d" % x, "arbor/ostree"),
]

out_tsv = ["tree\tmeasure\tmetric\tarbor\tostree\tratio\tratio_is\ttarget\tresult\tn\tarbor_min\tarbor_max\tostree_min\tostree_max"]
md = ["# arbor vs ostree: commit, checkout, repository size", ""]
md += ["| | |", "|---|---|"] + ["| %s | %s |" % (k, v.replace("|", "\\|")) for k, v in meta] + [""]
md += ["Medians of %s runs per tool, tools alternated run by run (min-max in brackets)." %
       dict(meta).get("repeat", "?"), ""]
md += ["| tree | measure | arbor | ostree | ratio | target | result |", "|---|---|---|---|---|---|---|"]
fails = 0
def cell(tree, phase, tool, metric, scale, fmt):
    m = med(tree, phase, tool, metric)
    lo, hi = spread(tree, phase, tool, metric)
    if m is None:
        return None, "-"
    s = fmt(m * scale)
    if fmt(lo * scale) != fmt(hi * scale):
        s += " (%s-%s)" % (fmt(lo * scale).split()[0], fmt(hi * scale))
    return m * scale, s

for tree in trees:
    for label, phase, metric, scale, fmt, rk, target, ok in rows:
        a, acell = cell(tree, phase, "arbor", metric, scale, fmt)
        o, ocell = cell(tree, phase, "ostree", metric, scale, fmt)
        if a is None or o is None:
            continue
        r = (o / a if rk == "ostree/arbor" else a / o) if a and o else float("nan")
        passed = ok(a, o, r)
        fails += not passed
        res = "PASS" if passed else "**FAIL**"
        md.append("| %s | %s | %s | %s | %.3f (%s) | %s | %s |" % (tree, label, acell, ocell, r, rk, target, res))
        lo_a, hi_a = spread(tree, phase, "arbor", metric); lo_o, hi_o = spread(tree, phase, "ostree", metric)
        out_tsv.append("\t".join(map(str, [tree, label, metric, a, o, "%.3f" % r, rk, target,
                                           "PASS" if passed else "FAIL",
                                           len(S[(tree, phase, "arbor", metric)]),
                                           lo_a * scale, hi_a * scale, lo_o * scale, hi_o * scale])))
md += ["", "Informational (no target):", "", "| tree | measure | arbor | ostree | ratio |", "|---|---|---|---|---|"]
for tree in trees:
    for label, phase, metric, scale, fmt, rk in info:
        a, acell = cell(tree, phase, "arbor", metric, scale, fmt)
        o, ocell = cell(tree, phase, "ostree", metric, scale, fmt)
        if a is None or o is None:
            continue
        r = (o / a if rk == "ostree/arbor" else a / o) if a and o else float("nan")
        md.append("| %s | %s | %s | %s | %.3f (%s) |" % (tree, label, acell, ocell, r, rk))
        out_tsv.append("\t".join(map(str, [tree, label, metric, a, o, "%.3f" % r, rk, "-", "-",
                                           len(S[(tree, phase, "arbor", metric)]), "", "", "", ""])))
    f = med(tree, "tree", "-", "files"); b = med(tree, "tree", "-", "bytes"); x = med(tree, "tree", "-", "xattrs")
    hl = {t: med(tree, "checkout", t, "hardlinked_files") for t in ("arbor", "ostree")}
    md.append("| %s | tree: %d files, %s, %d xattrs; checkout files with link count > 1: arbor %s, ostree %s | | | |" %
              (tree, f, mb(b), x, "%d" % hl["arbor"] if hl["arbor"] is not None else "-",
               "%d" % hl["ostree"] if hl["ostree"] is not None else "-"))
md += ["", "%d target(s) missed." % fails if fails else "All targets met.", ""]
open(sumf, "w").write("\n".join(out_tsv) + "\n")
open(mdf, "w").write("\n".join(md))
print("\n".join(md))
sys.exit(3 if fails else 0)
PY
}

publish() { # copies the run's files to latest*, prints where they are
  cp "$RAW" "$RES/latest-raw.tsv"; cp "$META" "$RES/latest-meta.tsv"
  cp "$SUM" "$RES/latest.tsv"; cp "$MD" "$RES/latest.md"
  log "results: $MD ($SUM, $RAW)"
}

# REPORT_ONLY=<stamp>: render bench/results/foundation-<stamp>-{raw,meta}.tsv again, measure nothing
if [ -n "${REPORT_ONLY:-}" ]; then
  STAMP=$REPORT_ONLY RAW=$RES/foundation-$STAMP-raw.tsv SUM=$RES/foundation-$STAMP.tsv
  MD=$RES/foundation-$STAMP.md META=$RES/foundation-$STAMP-meta.tsv
  [ -f "$RAW" ] && [ -f "$META" ] || die "no $RAW or $META"
  rc=0; render || rc=$?
  [ $rc = 0 ] || [ $rc = 3 ] || die "report failed"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root: bare repositories keep file owners, and the page cache is dropped"
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer"
case "$CACHE" in cold|warm) ;; *) die "CACHE must be cold or warm" ;; esac

# ---------------------------------------------------------------- tools
need=()
command -v ostree >/dev/null || need+=(ostree)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  }
fi
command -v python3 >/dev/null || die "python3 is needed for the report"
command -v go >/dev/null || die "go is needed to build arbor"

# ---------------------------------------------------------------- trees
missing=0
for t in $TREES; do [ -d "$WORK/trees/$t" ] || missing=1; done
if [ $missing = 1 ]; then
  [ -x "$SHARED/bench/make-trees.sh" ] || die "trees missing and $SHARED/bench/make-trees.sh not found (set SHARED)"
  log "building trees with $SHARED/bench/make-trees.sh"
  WORK=$WORK "$SHARED/bench/make-trees.sh"
fi
for t in $TREES; do [ -d "$WORK/trees/$t" ] || die "tree $WORK/trees/$t missing"; done

# ---------------------------------------------------------------- arbor
mkdir -p "$WORK" "$RES" "$LOGS"
if [ -n "$ARBOR_REV" ]; then
  src=$WORK/arbor-src
  rm -rf "$src"; mkdir -p "$src"
  git -C "$ROOT" archive "$ARBOR_REV" | tar -x -C "$src"
  ARBOR_DESC="$(git -C "$ROOT" rev-parse "$ARBOR_REV") (git archive of $ARBOR_REV)"
else
  src=$ROOT
  dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!bench' | wc -l)
  ARBOR_DESC="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown) working tree"
  if [ "$dirty" -gt 0 ]; then
    ARBOR_DESC+=" + uncommitted changes in $dirty tracked files (diff sha256 $(git -C "$ROOT" diff HEAD -- . ':!bench' | sha256sum | cut -c1-12))"
  fi
fi
log "go build -o $ARBOR ./cmd/arbor  (in $src)"
(cd "$src" && go build -o "$ARBOR" ./cmd/arbor) ||
  die "go build failed in $src (the working tree may be mid-edit: ARBOR_REV=HEAD builds the last commit)"

# ---------------------------------------------------------------- cache
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
if [ "$CACHE" = cold ] && ! drop_caches; then
  log "cannot write /proc/sys/vm/drop_caches: running warm for both tools"
  CACHE=warm
fi
# settle: called right before every timed command. Dirty pages of the previous command are
# written back first (sync), so they are never flushed on the next command's time.
settle() { if [ "$CACHE" = cold ]; then drop_caches; else sync; fi; }
warm_tree() { tar -C "$1" -cf - . | cat >/dev/null; }

# ---------------------------------------------------------------- helpers
printf 'tree\tphase\ttool\trun\torder\tmetric\tvalue\n' >"$RAW"
rec() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }

# timed TREE PHASE TOOL RUN ORDER CMD... : run CMD under GNU time -v, record wall_s, rss_kb, cpu_s
timed() {
  local tree=$1 phase=$2 tool=$3 run=$4 order=$5; shift 5
  local lg=$LOGS/$tree-$phase-$tool-$run.log tv=$LOGS/$tree-$phase-$tool-$run.time
  settle
  if ! /usr/bin/time -v -o "$tv" "$@" >"$lg" 2>&1; then
    tail -n 20 "$lg" >&2; die "failed: $*"
  fi
  local wall rss cpu
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$tv")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2+0}' "$tv")
  cpu=$(awk -F': ' '/User time \(seconds\)/{u=$2} /System time \(seconds\)/{s=$2} END{printf "%.2f", u+s}' "$tv")
  rec "$tree" "$phase" "$tool" "$run" "$order" wall_s "$wall"
  rec "$tree" "$phase" "$tool" "$run" "$order" rss_kb "$rss"
  rec "$tree" "$phase" "$tool" "$run" "$order" cpu_s "$cpu"
  log "  $tree $phase $tool run $run: ${wall}s, peak RSS $((rss / 1024)) MiB, cpu ${cpu}s"
}

q() { local lg=$1; shift; "$@" >>"$lg" 2>&1 || { tail -n 20 "$lg" >&2; die "failed: $*"; }; }

# one tool's step; the order of the two tools alternates with the run number
commit_step() { # TREE RUN ORDER TOOL
  local tree=$1 run=$2 order=$3 tool=$4 T=$WORK/trees/$1 R=$FW/$4-archive
  rm -rf "$R"
  if [ "$tool" = arbor ]; then
    q "$LOGS/setup.log" "$ARBOR" --repo "$R" init --mode archive
    # shellcheck disable=SC2086
    timed "$tree" commit arbor "$run" "$order" "$ARBOR" --repo "$R" commit -b b "$T"
  else
    q "$LOGS/setup.log" ostree --repo="$R" init --mode=archive
    # shellcheck disable=SC2086
    timed "$tree" commit ostree "$run" "$order" ostree --repo="$R" commit -b b $OSTREE_COMMIT_FLAGS --tree=dir="$T"
  fi
  rec "$tree" size "$tool" "$run" "$order" disk_bytes "$(du -s --block-size=1 "$R" | cut -f1)"
  rec "$tree" size "$tool" "$run" "$order" apparent_bytes "$(du -s --apparent-size --block-size=1 "$R" | cut -f1)"
  rec "$tree" size "$tool" "$run" "$order" files "$(find "$R" -type f | wc -l)"
}

checkout_step() { # TREE RUN ORDER TOOL
  local tree=$1 run=$2 order=$3 tool=$4 R=$FW/$4-bare D=$FW/$4-co
  rm -rf "$D"
  if [ "$tool" = arbor ]; then
    timed "$tree" checkout arbor "$run" "$order" "$ARBOR" --repo "$R" checkout b "$D"
  else
    timed "$tree" checkout ostree "$run" "$order" ostree --repo="$R" checkout b "$D"
  fi
  if [ "$run" = 1 ]; then  # untimed: the checkout is complete and equal to the tree
    diff -r --no-dereference -q "$WORK/trees/$tree" "$D" >"$LOGS/$tree-diff-$tool.log" 2>&1 ||
      { head "$LOGS/$tree-diff-$tool.log" >&2; die "$tool checkout of $tree differs from the tree"; }
    local nl; nl=$(find "$D" -type f -links +1 | wc -l)
    rec "$tree" checkout "$tool" "$run" "$order" hardlinked_files "$nl"
  fi
}

# alternate: odd runs arbor first, even runs ostree first
both() { # STEPFN TREE RUN
  local fn=$1 tree=$2 run=$3
  if [ $((run % 2)) = 1 ]; then "$fn" "$tree" "$run" 1 arbor; "$fn" "$tree" "$run" 2 ostree
  else "$fn" "$tree" "$run" 1 ostree; "$fn" "$tree" "$run" 2 arbor; fi
}

# ---------------------------------------------------------------- measure
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
log "arbor: $ARBOR_DESC"
log "cache: $CACHE; REPEAT=$REPEAT; trees: $TREES"
for tree in $TREES; do
  T=$WORK/trees/$tree
  rec "$tree" tree - - - files "$(find "$T" -type f | wc -l)"
  rec "$tree" tree - - - bytes "$(du -s --apparent-size --block-size=1 "$T" | cut -f1)"
  rec "$tree" tree - - - xattrs "$(python3 -c 'import os,sys
n=0
for dp,dn,fn in os.walk(sys.argv[1]):
    for e in dn+fn+["."]:
        n+=len(os.listxattr(os.path.join(dp,e),follow_symlinks=False))
print(n)' "$T")"
  [ "$CACHE" = warm ] && warm_tree "$T"

  log "$tree: commit into archive repositories (x$REPEAT, alternating)"
  for run in $(seq "$REPEAT"); do both commit_step "$tree" "$run"; done

  log "$tree: bare repositories (untimed setup), then checkout (x$REPEAT, alternating)"
  rm -rf "$FW/arbor-bare" "$FW/ostree-bare" "$FW/arbor-co" "$FW/ostree-co"
  q "$LOGS/setup.log" "$ARBOR" --repo "$FW/arbor-bare" init --mode bare
  q "$LOGS/setup.log" "$ARBOR" --repo "$FW/arbor-bare" commit -b b "$T"
  q "$LOGS/setup.log" ostree --repo="$FW/ostree-bare" init --mode=bare
  # shellcheck disable=SC2086
  q "$LOGS/setup.log" ostree --repo="$FW/ostree-bare" commit -b b $OSTREE_COMMIT_FLAGS --tree=dir="$T"
  for run in $(seq "$REPEAT"); do both checkout_step "$tree" "$run"; done
  rm -rf "$FW/arbor-bare" "$FW/ostree-bare" "$FW/arbor-co" "$FW/ostree-co" "$FW/arbor-archive" "$FW/ostree-archive"
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
cat >"$META" <<EOF
date	$(date -u '+%Y-%m-%d %H:%M UTC')
command	$CMDLINE
machine	$(nproc) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)
filesystem	$(df -T "$WORK" | awk 'NR==2{print $2" on "$1}')
load	load average $LOAD0 at start, $LOAD1 at end (shared machine)
arbor	$ARBOR_DESC, $(go version | cut -d' ' -f3)
ostree	$(dpkg-query -W -f='${Version}' ostree 2>/dev/null || ostree --version | awk -F"'" '/Version/{print $2}')${OSTREE_COMMIT_FLAGS:+ (commit flags: $OSTREE_COMMIT_FLAGS)}
cache	$CACHE
repeat	$REPEAT
duration	$(( $(date +%s) - T0 )) s
EOF
rc=0
render || rc=$?
publish
if [ $rc = 3 ] && [ "$STRICT" = 1 ]; then exit 1; fi
[ $rc = 0 ] || [ $rc = 3 ] || die "report failed"
