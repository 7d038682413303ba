#!/usr/bin/env bash
# profile.sh - CPU and allocation profiles of what `arbor commit` (archive repository) and
# `arbor checkout` (bare repository) do, for the diagnosis in bench/README.md.
#
#   sudo bench/profile.sh                    # both trees, HEAD
#   sudo TREES=go-1.26.8 ARBOR_REV=<rev> bench/profile.sh
#
# The arbor CLI has no profiling switch, so this generates a small harness OUTSIDE the module
# ($WORK/arbor-prof, a separate module with a replace directive onto a git archive of
# ARBOR_REV) that makes the same calls as cmd/arbor: repo.Update { repo.ImportPath,
# repo.WriteCommit, tx.SetRef } for commit, checkout.Commit for checkout. Nothing is added to
# the project's module.
#
# Env: WORK [/tmp/otabench], TREES ["go-1.26.8 rootfs-r1"], ARBOR_REV [HEAD],
#      CHECKOUTS [5] (checkouts merged into one profile; one is too short to sample well)
# Output: bench/results/profiles/<rev12>-<tree>-{commit-cpu,commit-alloc,checkout-cpu}.pprof
#         and .txt (go tool pprof -top), plus the harness binary beside them for -http viewing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/otabench}
TREES=${TREES:-"go-1.26.8 rootfs-r1"}
ARBOR_REV=${ARBOR_REV:-HEAD}
CHECKOUTS=${CHECKOUTS:-5}
log() { printf '[profile %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (bare repositories keep owners)"

REV=$(git -C "$ROOT" rev-parse "$ARBOR_REV")
H=$WORK/arbor-prof
OUT=$HERE/results/profiles
rm -rf "$H"; mkdir -p "$H/src" "$H/harness" "$OUT"
git -C "$ROOT" archive "$REV" | tar -x -C "$H/src"

cat >"$H/harness/main.go" <<'EOF'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
)

func main() {
	op := flag.String("op", "commit", "commit|checkout")
	repoP := flag.String("repo", "", "repository")
	cpu := flag.String("cpu", "", "CPU profile file")
	mem := flag.String("mem", "", "allocation profile file")
	flag.Parse()
	ctx := context.Background()
	r, err := repo.Open(*repoP)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	runtime.MemProfileRate = 64 << 10
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			panic(err)
		}
		pprof.StartCPUProfile(f)
	}
	start := time.Now()
	var phase time.Duration
	switch *op {
	case "commit": // as cmd/arbor runCommit
		err = r.Update(ctx, func(tx *repo.Tx) error {
			tree, meta, _, err := repo.ImportPath(ctx, tx, flag.Arg(0), repo.ImportOptions{})
			if err != nil {
				return err
			}
			c := &objects.Commit{Tree: tree, Meta: meta, Subject: "profile",
				Metadata: objects.Metadata{objects.MetaRefBinding: []string{"b"}, objects.MetaRelease: int64(1)}}
			id, err := repo.WriteCommit(ctx, tx, c)
			if err != nil {
				return err
			}
			phase = time.Since(start)
			return tx.SetRef("b", id)
		})
	case "checkout": // as cmd/arbor checkout, run as root
		var id objects.ID
		if id, err = r.Ref("b"); err == nil {
			_, err = checkout.Commit(ctx, r, id, flag.Arg(0), checkout.Options{})
		}
	}
	total := time.Since(start)
	if *cpu != "" {
		pprof.StopCPUProfile()
	}
	if *mem != "" {
		f, _ := os.Create(*mem)
		pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	if *op == "commit" {
		fmt.Fprintf(os.Stderr, "commit: %.2fs (import+objects %.2fs, transaction commit %.2fs)\n",
			total.Seconds(), phase.Seconds(), (total - phase).Seconds())
	} else {
		fmt.Fprintf(os.Stderr, "checkout: %.2fs\n", total.Seconds())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
EOF
{
  echo "module arborprof"
  echo
  echo "go $(awk '/^go /{print $2}' "$H/src/go.mod")"
  echo
  echo "require github.com/arbor-ota/arbor v0.0.0"
  echo
  sed -n '/^require/,$p' "$H/src/go.mod" | grep -v 'arbor-ota/arbor'
  echo
  echo "replace github.com/arbor-ota/arbor => $H/src"
} >"$H/harness/go.mod"
cp "$H/src/go.sum" "$H/harness/go.sum"
(cd "$H/src" && go build -o "$H/arbor" ./cmd/arbor)
(cd "$H/harness" && GOFLAGS=-mod=mod go build -o "$H/prof" .)
cp "$H/prof" "$OUT/${REV:0:12}-harness"

for tree in $TREES; do
  T=$WORK/trees/$tree
  [ -d "$T" ] || die "tree $T missing (bench/foundation.sh builds it)"
  P=$OUT/${REV:0:12}-$tree
  log "$tree: commit into a fresh archive repository (warm cache)"
  rm -rf "$H/archive"; "$H/arbor" --repo "$H/archive" init --mode archive >/dev/null
  tar -C "$T" -cf - . | cat >/dev/null; sync
  /usr/bin/time -f "  wall %e s, user %U s, sys %S s, peak RSS %M KiB" \
    "$H/prof" -op commit -repo "$H/archive" -cpu "$P-commit-cpu.pprof" -mem "$P-commit-alloc.pprof" "$T"
  log "$tree: checkout from a bare repository (x$CHECKOUTS, merged)"
  rm -rf "$H/bare"; "$H/arbor" --repo "$H/bare" init --mode bare >/dev/null
  "$H/arbor" --repo "$H/bare" commit -b b "$T" >/dev/null 2>&1
  profs=()
  for i in $(seq "$CHECKOUTS"); do
    rm -rf "$H/co"; sync
    "$H/prof" -op checkout -repo "$H/bare" -cpu "$H/co-$i.pprof" "$H/co"
    profs+=("$H/co-$i.pprof")
  done
  go tool pprof -proto "${profs[@]}" >"$P-checkout-cpu.pprof" 2>/dev/null
  for k in commit-cpu checkout-cpu; do
    { go tool pprof -top -nodecount=30 "$H/prof" "$P-$k.pprof"
      echo; echo "# cumulative"; go tool pprof -top -cum -nodecount=60 "$H/prof" "$P-$k.pprof"; } >"$P-$k.txt" 2>/dev/null
  done
  go tool pprof -sample_index=alloc_space -top -nodecount=15 "$H/prof" "$P-commit-alloc.pprof" >"$P-commit-alloc.txt" 2>/dev/null
  rm -rf "$H/archive" "$H/bare" "$H/co" "$H"/co-*.pprof
  log "$tree: $P-{commit-cpu,commit-alloc,checkout-cpu}.txt"
done
log "view: go tool pprof -http=: $OUT/${REV:0:12}-harness $OUT/${REV:0:12}-<tree>-commit-cpu.pprof"
