complete -c produce -l log-dir -d 'The log directory holding the topics. Default: $SLUICE_LOG_DIR, else $XDG_STATE_HOME/sluice/log, else ~/.local/state/sluice/log (cron has HOME, so cron jobs and terminals share it)' -r -F
complete -c produce -l partitions -d 'Partitions of a new topic (an existing topic keeps its own; naming another number is an error)' -r
complete -c produce -l key -d 'The field (dotted path) that holds each record\'s key' -r
complete -c produce -l partition -d 'Write every record to this partition, also over an envelope\'s own "partition" (keys are still stored, as with Kafka)' -r
complete -c produce -l timestamp-field -d 'The field (dotted path) with each record\'s time: ms since the epoch or RFC 3339 (default: now)' -r
complete -c produce -l header -d 'A header added to every record (repeatable)' -r
complete -c produce -l header-field -d 'A field copied into a header of the same name (repeatable)' -r
complete -c produce -l acks -d 'How sure to be that a record is written before going on: 0, 1 or all (see below)' -r -f -a "0\t''
1\t''
all\t''"
complete -c produce -l retention -d 'Retention by age for a new topic or with --create (e.g. 7d); old segments are deleted' -r
complete -c produce -l retention-bytes -d 'Retention by size per partition for a new topic or with --create (e.g. 10GiB)' -r
complete -c produce -l cleanup -d 'For a new topic or with --create: delete (records stay until retention) or compact (the log cleaner keeps only the latest record of each key)' -r -f -a "delete\t''
compact\t''"
complete -c produce -l delete-retention -d 'For a new topic or with --create, with --cleanup compact: how long tombstones stay after their segment was written (default 1d)' -r
complete -c produce -l segment-bytes -d 'Segment size of a new topic: a segment rolls before a record that would take it past this size (at most 4GiB; default 1GiB)' -r
complete -c produce -l on-error -d 'What to do with a bad record: `fail` (stop, exit 1), `skip` (count it and go on) or `dead-letter=PATH` (append it to the NDJSON file PATH with its source, position and reason, and go on)' -r
complete -c produce -l max-record-bytes -d 'Largest record accepted (bytes; K, M, G, KiB, MiB, GiB suffixes). Larger records go through --on-error without being held in memory' -r
complete -c produce -l metrics-file -d 'At the end, replace PATH (atomically) with the run\'s metrics in Prometheus\' text format, for node_exporter\'s textfile collector: records in, out and rejected, bytes, seconds, exit status, and the time of the last successful run (kept across failed runs)' -r -F
complete -c produce -l envelope -d 'Each input line is an envelope {"key","value","headers","timestamp","partition"}, as `consume --envelope` writes; headers as an array of {"key","value"} objects, a flat array of names and values (kcat), or an object of names (earlier versions); "key_base64" and "value_base64" carry bytes that are not UTF-8'
complete -c produce -l create -d 'Create (or update the retention or cleanup of) TOPIC, apply them, and write nothing'
complete -c produce -l delete-topic -d 'Delete TOPIC with all its records and committed group offsets'
complete -c produce -s q -l quiet -d 'Never show progress. On a terminal, a bar of bytes read (rate, ETA) is shown by the stage that reads files, the head of a pipeline; stages reading a pipe stay quiet'
complete -c produce -l progress -d 'Show progress on a terminal even when reading a pipe (bytes and rate, no ETA)'
complete -c produce -l stats -d 'At the end, print a one-line JSON summary to stderr: records in, out, rejected, bytes and seconds'
complete -c produce -s h -l help -d 'Print help (see more with \'--help\')'
complete -c produce -s V -l version -d 'Print version'
