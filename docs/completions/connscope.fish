# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_connscope_global_optspecs
    string join \n h/help V/version
end

function __fish_connscope_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_connscope_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_connscope_using_subcommand
    set -l cmd (__fish_connscope_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c connscope -n "__fish_connscope_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c connscope -n "__fish_connscope_needs_command" -s V -l version -d 'Print version'
complete -c connscope -n "__fish_connscope_needs_command" -f -a "read" -d 'Analyse saved captures (pcap, pcapng)'
complete -c connscope -n "__fish_connscope_needs_command" -f -a "live" -d 'Capture through libpcap until Ctrl-C, -c N or --duration, with the same analysis'
complete -c connscope -n "__fish_connscope_needs_command" -f -a "gen" -d 'Run the bundled HTTP server and/or client scenarios (loopback only)'
complete -c connscope -n "__fish_connscope_needs_command" -f -a "demo" -d 'Run every generator scenario while capturing on lo, and compare them side by side'
complete -c connscope -n "__fish_connscope_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c connscope -n "__fish_connscope_using_subcommand read" -s p -l port -d 'Keep only TCP traffic to or from PORT (BPF `tcp port PORT`)' -r
complete -c connscope -n "__fish_connscope_using_subcommand read" -s f -l filter -d 'A libpcap filter expression, and-ed with --port (see pcap-filter(7))' -r
complete -c connscope -n "__fish_connscope_using_subcommand read" -l format -d 'Report format; the machine formats print no packet lines' -r -f -a "table\t'Packet lines, the flow table, the headline and the diagnosis'
json\t'One JSON report per file (the field names are a stable interface)'
ndjson\t'One JSON object per connection as it ends, then a final totals line'
csv\t'One row per connection, with a header row'"
complete -c connscope -n "__fish_connscope_using_subcommand read" -l time-wait -d '2MSL to assume for TIME-WAIT, in seconds (Linux: 60)' -r
complete -c connscope -n "__fish_connscope_using_subcommand read" -l max-connections -d 'Most connections tracked at once; past it a half-open one (a SYN and nothing else) is reported early to make room, else new connections are counted and skipped' -r
complete -c connscope -n "__fish_connscope_using_subcommand read" -l reasm-window -d 'Out-of-order bytes held per connection and direction; past it the first hole is skipped' -r
complete -c connscope -n "__fish_connscope_using_subcommand read" -l max-header-bytes -d 'Longest HTTP head (start line and headers) parsed; a longer one is skipped and reported' -r
complete -c connscope -n "__fish_connscope_using_subcommand read" -l ladder -d 'Sequence diagram of connection ID (a number from the table), or `all` for small captures' -r
complete -c connscope -n "__fish_connscope_using_subcommand read" -l html -d 'Also write a self-contained HTML report (table, timeline, ladders, diagnosis) to FILE' -r -F
complete -c connscope -n "__fish_connscope_using_subcommand read" -l color -d 'Colour in the human report: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always, even into a pipe (never for json, ndjson or csv)'
never\t'Never'"
complete -c connscope -n "__fish_connscope_using_subcommand read" -s q -l quiet -d 'No per-packet lines'
complete -c connscope -n "__fish_connscope_using_subcommand read" -l no-summary -d 'Per-packet lines only, no summary'
complete -c connscope -n "__fish_connscope_using_subcommand read" -s a -l annotate -d 'Append the connection number and state transitions to each line'
complete -c connscope -n "__fish_connscope_using_subcommand read" -l timeline -d 'All connections over time: requests, close, TIME-WAIT tail, and counts below'
complete -c connscope -n "__fish_connscope_using_subcommand read" -l ascii -d 'ASCII instead of Unicode box drawing in --ladder and --timeline'
complete -c connscope -n "__fish_connscope_using_subcommand read" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c connscope -n "__fish_connscope_using_subcommand live" -s i -l interface -d 'Interface to capture on (default: libpcap\'s default device; `any` for all)' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -s c -l count -d 'Stop after N packets' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -l duration -d 'Stop after SECS seconds' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -s w -l write -d 'Also save the captured packets to FILE (pcap, readable by tcpdump and connscope read)' -r -F
complete -c connscope -n "__fish_connscope_using_subcommand live" -s s -l snaplen -d 'Snapshot length: bytes kept of each packet' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -s p -l port -d 'Keep only TCP traffic to or from PORT (BPF `tcp port PORT`)' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -s f -l filter -d 'A libpcap filter expression, and-ed with --port (see pcap-filter(7))' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -l format -d 'Report format; the machine formats print no packet lines' -r -f -a "table\t'Packet lines, the flow table, the headline and the diagnosis'
json\t'One JSON report per file (the field names are a stable interface)'
ndjson\t'One JSON object per connection as it ends, then a final totals line'
csv\t'One row per connection, with a header row'"
complete -c connscope -n "__fish_connscope_using_subcommand live" -l time-wait -d '2MSL to assume for TIME-WAIT, in seconds (Linux: 60)' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -l max-connections -d 'Most connections tracked at once; past it a half-open one (a SYN and nothing else) is reported early to make room, else new connections are counted and skipped' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -l reasm-window -d 'Out-of-order bytes held per connection and direction; past it the first hole is skipped' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -l max-header-bytes -d 'Longest HTTP head (start line and headers) parsed; a longer one is skipped and reported' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -l ladder -d 'Sequence diagram of connection ID (a number from the table), or `all` for small captures' -r
complete -c connscope -n "__fish_connscope_using_subcommand live" -l html -d 'Also write a self-contained HTML report (table, timeline, ladders, diagnosis) to FILE' -r -F
complete -c connscope -n "__fish_connscope_using_subcommand live" -l color -d 'Colour in the human report: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always, even into a pipe (never for json, ndjson or csv)'
never\t'Never'"
complete -c connscope -n "__fish_connscope_using_subcommand live" -s q -l quiet -d 'No per-packet lines'
complete -c connscope -n "__fish_connscope_using_subcommand live" -l no-summary -d 'Per-packet lines only, no summary'
complete -c connscope -n "__fish_connscope_using_subcommand live" -s a -l annotate -d 'Append the connection number and state transitions to each line'
complete -c connscope -n "__fish_connscope_using_subcommand live" -l timeline -d 'All connections over time: requests, close, TIME-WAIT tail, and counts below'
complete -c connscope -n "__fish_connscope_using_subcommand live" -l ascii -d 'ASCII instead of Unicode box drawing in --ladder and --timeline'
complete -c connscope -n "__fish_connscope_using_subcommand live" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l scenario -d 'Scenario to reproduce; the knobs below override its settings one by one' -r -f -a "no-drain\t'Sequential requests, response body never read: one connection per request'
drain\t'Sequential requests, body read to the end: one connection in all'
pool-small\t'10 workers, idle pool of 2: connections churn'
pool-large\t'10 workers, idle pool of 10: at most 10 connections'
client-close\t'Every request says `Connection: close`: one connection per request'
server-limit\t'The server closes after N requests per connection (default 3)'
http10\t'HTTP/1.0 without keep-alive: one connection per request'"
complete -c connscope -n "__fish_connscope_using_subcommand gen" -s p -l port -d 'Server port on 127.0.0.1 (0 = any free port)' -r
complete -c connscope -n "__fish_connscope_using_subcommand gen" -s n -l requests -d 'Total number of requests, across all workers [default: 10, or 100 for pool-small/pool-large]' -r
complete -c connscope -n "__fish_connscope_using_subcommand gen" -s c -l concurrency -d 'Concurrent client workers; each round, every worker sends one request [default: 1, or 10 for pool-small/pool-large]' -r
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l pool-idle -d 'Idle connections the client keeps per host [default: the concurrency; 2 for pool-small]' -r
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l server-max-requests -d 'The server answers the Nth request on a connection with `Connection: close` and closes it [default: none; 3 for server-limit]' -r
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l response-bytes -d 'Size of each response body in bytes [default: 4096; 65536 for no-drain]' -r
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l think-ms -d 'Pause of each worker after each request, in milliseconds [default: 2]' -r
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l target -d 'Run only the client, against this server (loopback only: http://127.0.0.1:PORT/...)' -r
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l drain -d 'Read every response body to the end (the default, except for no-drain)'
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l no-drain -d 'Drop every response body without reading it'
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l keep-alive -d 'Let connections be reused (the default, except for client-close)'
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l close -d 'Send `Connection: close` with every request'
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l http10 -d 'Send HTTP/1.0 requests (no keep-alive)'
complete -c connscope -n "__fish_connscope_using_subcommand gen" -l serve-only -d 'Run only the server, until Ctrl-C'
complete -c connscope -n "__fish_connscope_using_subcommand gen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c connscope -n "__fish_connscope_using_subcommand demo" -s i -l interface -d 'Interface to capture on (loopback)' -r
complete -c connscope -n "__fish_connscope_using_subcommand demo" -s p -l port -d 'First server port; each scenario uses the next one (port, port+1, …)' -r
complete -c connscope -n "__fish_connscope_using_subcommand demo" -l scenario -d 'Run only these scenarios (default: all)' -r -f -a "no-drain\t'Sequential requests, response body never read: one connection per request'
drain\t'Sequential requests, body read to the end: one connection in all'
pool-small\t'10 workers, idle pool of 2: connections churn'
pool-large\t'10 workers, idle pool of 10: at most 10 connections'
client-close\t'Every request says `Connection: close`: one connection per request'
server-limit\t'The server closes after N requests per connection (default 3)'
http10\t'HTTP/1.0 without keep-alive: one connection per request'"
complete -c connscope -n "__fish_connscope_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c connscope -n "__fish_connscope_using_subcommand help; and not __fish_seen_subcommand_from read live gen demo help" -f -a "read" -d 'Analyse saved captures (pcap, pcapng)'
complete -c connscope -n "__fish_connscope_using_subcommand help; and not __fish_seen_subcommand_from read live gen demo help" -f -a "live" -d 'Capture through libpcap until Ctrl-C, -c N or --duration, with the same analysis'
complete -c connscope -n "__fish_connscope_using_subcommand help; and not __fish_seen_subcommand_from read live gen demo help" -f -a "gen" -d 'Run the bundled HTTP server and/or client scenarios (loopback only)'
complete -c connscope -n "__fish_connscope_using_subcommand help; and not __fish_seen_subcommand_from read live gen demo help" -f -a "demo" -d 'Run every generator scenario while capturing on lo, and compare them side by side'
complete -c connscope -n "__fish_connscope_using_subcommand help; and not __fish_seen_subcommand_from read live gen demo help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
