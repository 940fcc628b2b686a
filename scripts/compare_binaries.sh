#!/usr/bin/env bash
# Solve throughput of two lca binaries on the same problems, interleaved, best of 3:
#   scripts/compare_binaries.sh OLD_LCA NEW_LCA   (problems from scripts/lasso_problem.py in /tmp/p8, /tmp/p16)
OLD=$1; NEW=$2
for case in "rate8|/tmp/p8|" "rate16|/tmp/p16|" "spiking8|/tmp/p8|--mode spiking" "fixed8|/tmp/p8|--mode spiking --fixed-point"; do
  IFS='|' read name dir flags <<< "$case"
  bo=0; bn=0
  for r in 1 2 3; do
    for which in old new; do
      b=$OLD; [ $which = new ] && b=$NEW
      v=$($b encode -d $dir/D.npy -i $dir/X.npy -o /tmp/arch_out.npy --threads 2 --json -q $flags 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['signals_per_second'])" 2>/dev/null || echo 0)
      if [ $which = old ]; then bo=$(python3 -c "print(max($bo,$v))"); else bn=$(python3 -c "print(max($bn,$v))"); fi
    done
  done
  python3 -c "print(f'$name old {$bo:,.0f}/s new {$bn:,.0f}/s ratio {$bn/$bo:.3f}')"
done
