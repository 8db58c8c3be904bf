complete -c transform -l rename -d 'Rename fields: OLD=NEW[,OLD=NEW…]. A record that already has NEW goes through --on-error (nothing is overwritten; --drop NEW first to replace it)' -r
complete -c transform -l drop -d 'Remove fields: A[,B…]' -r
complete -c transform -l keep -d 'Keep only these fields, in this order: A[,B…]' -r
complete -c transform -l set -d 'Set a field to the first value of a jq expression: FIELD=EXPR' -r
complete -c transform -l default -d 'Set a field that is missing or null: FIELD=JSON' -r
complete -c transform -l cast -d 'Convert fields: FIELD:TYPE[,FIELD:TYPE…] with TYPE int, float, bool, string or timestamp' -r
complete -c transform -l mask -d 'Replace values (see --mask-token, --mask-hash): A[,B…]' -r
complete -c transform -l extract -d 'Replace the record with this nested object' -r
complete -c transform -l hoist -d 'Wrap the record in an object under this name' -r
complete -c transform -s e -l expr -d 'A jq program per record; it may yield zero, one or many records' -r
complete -c transform -l expr-file -d 'A jq program read from a file (as -e)' -r -F
complete -c transform -l lookup -d 'Enrich records from a table in FILE (see --on, --prefix, --on-miss)' -r
complete -c transform -l on -d 'The join of a --lookup: FIELD=TABLE_FIELD (or FIELD when both are named alike)' -r
complete -c transform -l prefix -d 'A prefix for the fields a --lookup adds' -r
complete -c transform -l on-miss -d 'What a --lookup does with a record that has no match' -r -f -a "keep\t'Pass the record on unchanged'
drop\t'Leave the record out (counted in --stats and on stderr)'
reject\t'Hand the record to --on-error'"
complete -c transform -l time-format -d 'The format of times for --cast timestamp and --time-field (strftime, e.g. %d/%m/%Y %H:%M)' -r
complete -c transform -l separator -d 'The key separator for --flatten and --unflatten' -r
complete -c transform -l mask-token -d 'The replacement for --mask' -r
complete -c transform -l mask-salt-file -d 'A file holding the salt for --mask-hash' -r -F
complete -c transform -l dedupe -d 'Leave out records whose key fields were seen before: A[,B…]' -r
complete -c transform -l dedupe-capacity -d 'Remember only the last N keys (bounded memory)' -r
complete -c transform -l dedupe-within -d 'Remember keys for this long in event time (needs --time-field)' -r
complete -c transform -l window -d 'Tumbling (or with --hop, hopping) windows of this length, e.g. 5m, 1h' -r
complete -c transform -l hop -d 'Hopping windows start this often (less than --window)' -r
complete -c transform -l time-field -d 'The field with each record\'s event time' -r
complete -c transform -l group-by -d 'Group aggregates by these fields: A[,B…]' -r
complete -c transform -l agg -d 'An aggregate: count, count(f), sum(f), avg(f), min(f), max(f), first(f), last(f), count_distinct(f), optionally named: name=func(f)' -r
complete -c transform -l allowed-lateness -d 'How far behind the largest event time a record may be and still count' -r
complete -c transform -l late -d 'Write late records here (NDJSON; it appears when transform succeeds) instead of handing them to --on-error' -r -F
complete -c transform -l on-error -d 'What to do with a bad record: `fail` (stop, exit 1), `skip` (count it and go on) or `dead-letter=PATH` (append it to the NDJSON file PATH with its source, position and reason, and go on)' -r
complete -c transform -l max-record-bytes -d 'Largest record accepted (bytes; K, M, G, KiB, MiB, GiB suffixes). Larger records go through --on-error without being held in memory' -r
complete -c transform -l metrics-file -d 'At the end, replace PATH (atomically) with the run\'s metrics in Prometheus\' text format, for node_exporter\'s textfile collector: records in, out and rejected, bytes, seconds, exit status, and the time of the last successful run (kept across failed runs)' -r -F
complete -c transform -l flatten -d 'Nested objects become `a.b` keys (see --separator)'
complete -c transform -l unflatten -d '`a.b` keys become nested objects (see --separator)'
complete -c transform -l mask-hash -d '--mask writes a salted SHA-256 (hex) of each value instead of a token, so equal values stay equal; the salt comes from SLUICE_MASK_SALT or --mask-salt-file'
complete -c transform -l value-only -d 'Records are envelopes from `consume --envelope`: operations apply to their `value`, and key, headers and timestamp travel along'
complete -c transform -s q -l quiet -d 'Never show progress. On a terminal, a bar of bytes read (rate, ETA) is shown by the stage that reads files, the head of a pipeline; stages reading a pipe stay quiet'
complete -c transform -l progress -d 'Show progress on a terminal even when reading a pipe (bytes and rate, no ETA)'
complete -c transform -l stats -d 'At the end, print a one-line JSON summary to stderr: records in, out, rejected, bytes and seconds'
complete -c transform -s h -l help -d 'Print help (see more with \'--help\')'
complete -c transform -s V -l version -d 'Print version'
