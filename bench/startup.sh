#!/bin/sh
# Start-up cost of the small tools, ours (bin/) against Debian's C binaries (/usr/bin): wall time of
# one complete run with hyperfine, peak RSS of the tool's process with GNU time. Each scenario is what
# a run per connection costs: the program given is `true`, input is empty.
#   sh bench/startup.sh            (needs hyperfine, /usr/bin/time, ucspi-tcp; run `npm run build` first)
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-40}
port=${PORT:-50123}
tcpserver -R -H 127.0.0.1 "$port" true 2>/dev/null &
server=$!
trap 'kill $server' EXIT
sleep 0.3

scenario() { # name, command with TOOL for the program path
  name=$1
  cmd=$2
  for impl in C ours; do
    if [ $impl = C ]; then dir=/usr/bin; else dir=$here/bin; fi
    full=$(printf '%s' "$cmd" | sed "s#TOOL#$dir/$name#")
    mean=$(hyperfine -N -w 3 -r "$runs" --export-json /tmp/startup.$$.json "sh -c '$full'" >/dev/null 2>&1 &&
      node -e "const r=require('/tmp/startup.$$.json').results[0]; console.log((r.mean*1000).toFixed(1)+' ± '+(r.stddev*1000).toFixed(1))")
    rss=$(/usr/bin/time -f %M sh -c "exec $full" 2>&1 >/dev/null | tail -1)
    printf '| %s | %s | `%s` | %s ms | %s kB |\n' "$name" "$impl" "$full" "$mean" "$rss"
  done
}

echo '| tool | impl | command (run through sh -c) | wall time, mean ± sd | peak RSS |'
echo '|---|---|---|---|---|'
scenario addcr 'TOOL </dev/null'
scenario delcr 'TOOL </dev/null'
scenario argv0 'TOOL true x'
scenario mconnect-io 'TOOL 6</dev/null 7>/dev/null </dev/null'
# the copier holds stdout until the program's output ends: "| cat" waits for both processes
scenario fixcrio 'TOOL true </dev/null | cat'
scenario recordio 'TOOL true </dev/null 2>/dev/null | cat'
scenario tcpclient "TOOL -RHl0 127.0.0.1 $port true"
rm -f /tmp/startup.$$.json
