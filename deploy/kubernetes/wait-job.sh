#!/bin/sh
# Waits until a Job has finished, successfully or not, and says which:
#   deploy/kubernetes/wait-job.sh JOB [TIMEOUT_SECONDS]
# Exit 0: the Job completed. Exit 1: it failed. Exit 2: still running at the timeout.
# (`kubectl wait --for=condition=complete` alone waits for its whole timeout when the Job
# fails: a failed Job never becomes complete.)
set -u
job="$1"
timeout="${2:-7200}"
waited=0
while [ "$waited" -lt "$timeout" ]; do
  conditions=$(kubectl get job "$job" \
    -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}') || exit 2
  case " $conditions " in
    *" Complete "*) echo "job/$job completed"; exit 0 ;;
    *" Failed "*) echo "job/$job failed" >&2; exit 1 ;;
  esac
  sleep 5
  waited=$((waited + 5))
done
echo "job/$job still running after ${timeout}s" >&2
exit 2
