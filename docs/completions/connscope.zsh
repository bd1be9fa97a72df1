#compdef connscope

autoload -U is-at-least

_connscope() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_connscope_commands" \
"*::: :->connscope" \
&& ret=0
    case $state in
    (connscope)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:connscope-command-$line[1]:"
        case $line[1] in
            (read)
_arguments "${_arguments_options[@]}" : \
'-p+[Keep only TCP traffic to or from PORT (BPF \`tcp port PORT\`)]:PORT:_default' \
'--port=[Keep only TCP traffic to or from PORT (BPF \`tcp port PORT\`)]:PORT:_default' \
'-f+[A libpcap filter expression, and-ed with --port (see pcap-filter(7))]:EXPR:_default' \
'--filter=[A libpcap filter expression, and-ed with --port (see pcap-filter(7))]:EXPR:_default' \
'--format=[Report format; the machine formats print no packet lines]:FORMAT:((table\:"Packet lines, the flow table, the headline and the diagnosis"
json\:"One JSON report per file (the field names are a stable interface)"
ndjson\:"One JSON object per connection as it ends, then a final totals line"
csv\:"One row per connection, with a header row"))' \
'--time-wait=[2MSL to assume for TIME-WAIT, in seconds (Linux\: 60)]:SECS:_default' \
'--max-connections=[Most connections tracked at once; past it a half-open one (a SYN and nothing else) is reported early to make room, else new connections are counted and skipped]:N:_default' \
'--reasm-window=[Out-of-order bytes held per connection and direction; past it the first hole is skipped]:BYTES:_default' \
'--max-header-bytes=[Longest HTTP head (start line and headers) parsed; a longer one is skipped and reported]:BYTES:_default' \
'--ladder=[Sequence diagram of connection ID (a number from the table), or \`all\` for small captures]:ID|all:_default' \
'--html=[Also write a self-contained HTML report (table, timeline, ladders, diagnosis) to FILE]:FILE:_files' \
'--color=[Colour in the human report\: auto (on a terminal, unless NO_COLOR is set), always, never]:WHEN:((auto\:"On a terminal, unless NO_COLOR is set"
always\:"Always, even into a pipe (never for json, ndjson or csv)"
never\:"Never"))' \
'-q[No per-packet lines]' \
'--quiet[No per-packet lines]' \
'--no-summary[Per-packet lines only, no summary]' \
'-a[Append the connection number and state transitions to each line]' \
'--annotate[Append the connection number and state transitions to each line]' \
'--timeline[All connections over time\: requests, close, TIME-WAIT tail, and counts below]' \
'--ascii[ASCII instead of Unicode box drawing in --ladder and --timeline]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'*::files -- Capture files to analyse; each gets its own report (- is standard input):_files' \
&& ret=0
;;
(live)
_arguments "${_arguments_options[@]}" : \
'-i+[Interface to capture on (default\: libpcap'\''s default device; \`any\` for all)]:IFACE:_default' \
'--interface=[Interface to capture on (default\: libpcap'\''s default device; \`any\` for all)]:IFACE:_default' \
'-c+[Stop after N packets]:N:_default' \
'--count=[Stop after N packets]:N:_default' \
'--duration=[Stop after SECS seconds]:SECS:_default' \
'-w+[Also save the captured packets to FILE (pcap, readable by tcpdump and connscope read)]:FILE:_files' \
'--write=[Also save the captured packets to FILE (pcap, readable by tcpdump and connscope read)]:FILE:_files' \
'-s+[Snapshot length\: bytes kept of each packet]:BYTES:_default' \
'--snaplen=[Snapshot length\: bytes kept of each packet]:BYTES:_default' \
'-p+[Keep only TCP traffic to or from PORT (BPF \`tcp port PORT\`)]:PORT:_default' \
'--port=[Keep only TCP traffic to or from PORT (BPF \`tcp port PORT\`)]:PORT:_default' \
'-f+[A libpcap filter expression, and-ed with --port (see pcap-filter(7))]:EXPR:_default' \
'--filter=[A libpcap filter expression, and-ed with --port (see pcap-filter(7))]:EXPR:_default' \
'--format=[Report format; the machine formats print no packet lines]:FORMAT:((table\:"Packet lines, the flow table, the headline and the diagnosis"
json\:"One JSON report per file (the field names are a stable interface)"
ndjson\:"One JSON object per connection as it ends, then a final totals line"
csv\:"One row per connection, with a header row"))' \
'--time-wait=[2MSL to assume for TIME-WAIT, in seconds (Linux\: 60)]:SECS:_default' \
'--max-connections=[Most connections tracked at once; past it a half-open one (a SYN and nothing else) is reported early to make room, else new connections are counted and skipped]:N:_default' \
'--reasm-window=[Out-of-order bytes held per connection and direction; past it the first hole is skipped]:BYTES:_default' \
'--max-header-bytes=[Longest HTTP head (start line and headers) parsed; a longer one is skipped and reported]:BYTES:_default' \
'--ladder=[Sequence diagram of connection ID (a number from the table), or \`all\` for small captures]:ID|all:_default' \
'--html=[Also write a self-contained HTML report (table, timeline, ladders, diagnosis) to FILE]:FILE:_files' \
'--color=[Colour in the human report\: auto (on a terminal, unless NO_COLOR is set), always, never]:WHEN:((auto\:"On a terminal, unless NO_COLOR is set"
always\:"Always, even into a pipe (never for json, ndjson or csv)"
never\:"Never"))' \
'-q[No per-packet lines]' \
'--quiet[No per-packet lines]' \
'--no-summary[Per-packet lines only, no summary]' \
'-a[Append the connection number and state transitions to each line]' \
'--annotate[Append the connection number and state transitions to each line]' \
'--timeline[All connections over time\: requests, close, TIME-WAIT tail, and counts below]' \
'--ascii[ASCII instead of Unicode box drawing in --ladder and --timeline]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(gen)
_arguments "${_arguments_options[@]}" : \
'--scenario=[Scenario to reproduce; the knobs below override its settings one by one]:SCENARIO:((no-drain\:"Sequential requests, response body never read\: one connection per request"
drain\:"Sequential requests, body read to the end\: one connection in all"
pool-small\:"10 workers, idle pool of 2\: connections churn"
pool-large\:"10 workers, idle pool of 10\: at most 10 connections"
client-close\:"Every request says \`Connection\: close\`\: one connection per request"
server-limit\:"The server closes after N requests per connection (default 3)"
http10\:"HTTP/1.0 without keep-alive\: one connection per request"))' \
'-p+[Server port on 127.0.0.1 (0 = any free port)]:PORT:_default' \
'--port=[Server port on 127.0.0.1 (0 = any free port)]:PORT:_default' \
'-n+[Total number of requests, across all workers \[default\: 10, or 100 for pool-small/pool-large\]]:REQUESTS:_default' \
'--requests=[Total number of requests, across all workers \[default\: 10, or 100 for pool-small/pool-large\]]:REQUESTS:_default' \
'-c+[Concurrent client workers; each round, every worker sends one request \[default\: 1, or 10 for pool-small/pool-large\]]:CONCURRENCY:_default' \
'--concurrency=[Concurrent client workers; each round, every worker sends one request \[default\: 1, or 10 for pool-small/pool-large\]]:CONCURRENCY:_default' \
'--pool-idle=[Idle connections the client keeps per host \[default\: the concurrency; 2 for pool-small\]]:POOL_IDLE:_default' \
'--server-max-requests=[The server answers the Nth request on a connection with \`Connection\: close\` and closes it \[default\: none; 3 for server-limit\]]:N:_default' \
'--response-bytes=[Size of each response body in bytes \[default\: 4096; 65536 for no-drain\]]:BYTES:_default' \
'--think-ms=[Pause of each worker after each request, in milliseconds \[default\: 2\]]:MS:_default' \
'--target=[Run only the client, against this server (loopback only\: http\://127.0.0.1\:PORT/...)]:URL:_default' \
'--drain[Read every response body to the end (the default, except for no-drain)]' \
'--no-drain[Drop every response body without reading it]' \
'--keep-alive[Let connections be reused (the default, except for client-close)]' \
'--close[Send \`Connection\: close\` with every request]' \
'--http10[Send HTTP/1.0 requests (no keep-alive)]' \
'(--target)--serve-only[Run only the server, until Ctrl-C]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(demo)
_arguments "${_arguments_options[@]}" : \
'-i+[Interface to capture on (loopback)]:IFACE:_default' \
'--interface=[Interface to capture on (loopback)]:IFACE:_default' \
'-p+[First server port; each scenario uses the next one (port, port+1, …)]:PORT:_default' \
'--port=[First server port; each scenario uses the next one (port, port+1, …)]:PORT:_default' \
'*--scenario=[Run only these scenarios (default\: all)]:NAME:((no-drain\:"Sequential requests, response body never read\: one connection per request"
drain\:"Sequential requests, body read to the end\: one connection in all"
pool-small\:"10 workers, idle pool of 2\: connections churn"
pool-large\:"10 workers, idle pool of 10\: at most 10 connections"
client-close\:"Every request says \`Connection\: close\`\: one connection per request"
server-limit\:"The server closes after N requests per connection (default 3)"
http10\:"HTTP/1.0 without keep-alive\: one connection per request"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_connscope__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:connscope-help-command-$line[1]:"
        case $line[1] in
            (read)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(live)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(gen)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(demo)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_connscope_commands] )) ||
_connscope_commands() {
    local commands; commands=(
'read:Analyse saved captures (pcap, pcapng)' \
'live:Capture through libpcap until Ctrl-C, -c N or --duration, with the same analysis' \
'gen:Run the bundled HTTP server and/or client scenarios (loopback only)' \
'demo:Run every generator scenario while capturing on lo, and compare them side by side' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'connscope commands' commands "$@"
}
(( $+functions[_connscope__subcmd__demo_commands] )) ||
_connscope__subcmd__demo_commands() {
    local commands; commands=()
    _describe -t commands 'connscope demo commands' commands "$@"
}
(( $+functions[_connscope__subcmd__gen_commands] )) ||
_connscope__subcmd__gen_commands() {
    local commands; commands=()
    _describe -t commands 'connscope gen commands' commands "$@"
}
(( $+functions[_connscope__subcmd__help_commands] )) ||
_connscope__subcmd__help_commands() {
    local commands; commands=(
'read:Analyse saved captures (pcap, pcapng)' \
'live:Capture through libpcap until Ctrl-C, -c N or --duration, with the same analysis' \
'gen:Run the bundled HTTP server and/or client scenarios (loopback only)' \
'demo:Run every generator scenario while capturing on lo, and compare them side by side' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'connscope help commands' commands "$@"
}
(( $+functions[_connscope__subcmd__help__subcmd__demo_commands] )) ||
_connscope__subcmd__help__subcmd__demo_commands() {
    local commands; commands=()
    _describe -t commands 'connscope help demo commands' commands "$@"
}
(( $+functions[_connscope__subcmd__help__subcmd__gen_commands] )) ||
_connscope__subcmd__help__subcmd__gen_commands() {
    local commands; commands=()
    _describe -t commands 'connscope help gen commands' commands "$@"
}
(( $+functions[_connscope__subcmd__help__subcmd__help_commands] )) ||
_connscope__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'connscope help help commands' commands "$@"
}
(( $+functions[_connscope__subcmd__help__subcmd__live_commands] )) ||
_connscope__subcmd__help__subcmd__live_commands() {
    local commands; commands=()
    _describe -t commands 'connscope help live commands' commands "$@"
}
(( $+functions[_connscope__subcmd__help__subcmd__read_commands] )) ||
_connscope__subcmd__help__subcmd__read_commands() {
    local commands; commands=()
    _describe -t commands 'connscope help read commands' commands "$@"
}
(( $+functions[_connscope__subcmd__live_commands] )) ||
_connscope__subcmd__live_commands() {
    local commands; commands=()
    _describe -t commands 'connscope live commands' commands "$@"
}
(( $+functions[_connscope__subcmd__read_commands] )) ||
_connscope__subcmd__read_commands() {
    local commands; commands=()
    _describe -t commands 'connscope read commands' commands "$@"
}

if [ "$funcstack[1]" = "_connscope" ]; then
    _connscope "$@"
else
    compdef _connscope connscope
fi
