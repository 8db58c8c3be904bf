complete -c consume -l log-dir -d 'The log directory holding the topics. Default: $SLUICE_LOG_DIR, else $XDG_STATE_HOME/sluice/log, else ~/.local/state/sluice/log (cron has HOME, so cron jobs and terminals share it)' -r -F
complete -c consume -l group -d 'The consumer group: its committed offsets decide where to start, and its members share partitions (rebalanced every second; one that joins a busy group waits up to 10 s for its share)' -r
complete -c consume -l from -d 'Where to start without a committed offset: earliest, latest, OFFSET, -N, an RFC 3339 time or -DURATION (e.g. -1h)' -r
complete -c consume -l partition -d 'Only these partitions (repeatable). With --group they are read whatever the group\'s members read, and their offsets committed to the group (as Kafka\'s assign())' -r
complete -c consume -l max -d 'Stop after N records' -r
complete -c consume -l until -d 'Stop each partition at the first record later than this RFC 3339 time or -DURATION (e.g. -1h: an hour ago); with --follow, also once it is read to its end after that time, and the run ends when every partition has stopped' -r
complete -c consume -l checkpoint -d 'Commit nothing; write the offsets reached to FILE for `consume --commit FILE`' -r -F
complete -c consume -l commit -d '`auto` (commit after output is flushed, the default), or a checkpoint FILE to commit (then exit)' -r
complete -c consume -l reset -d 'Set --group\'s committed offsets for TOPICs to earliest, latest, an offset or a time (refused while a member of the group reads them, as Kafka does)' -r
complete -c consume -l on-error -d 'What to do with a bad record: `fail` (stop, exit 1), `skip` (count it and go on) or `dead-letter=PATH` (append it to the NDJSON file PATH with its source, position and reason, and go on)' -r
complete -c consume -l max-record-bytes -d 'Largest record accepted (bytes; K, M, G, KiB, MiB, GiB suffixes). Larger records go through --on-error without being held in memory' -r
complete -c consume -l metrics-file -d 'At the end, replace PATH (atomically) with the run\'s metrics in Prometheus\' text format, for node_exporter\'s textfile collector: records in, out and rejected, bytes, seconds, exit status, and the time of the last successful run (kept across failed runs)' -r -F
complete -c consume -l until-end -d 'Exit at the end of every partition as it was at start (the default)'
complete -c consume -l follow -d 'Wait for new records and go on until stdout\'s reader ends (`| head`): woken by inotify as soon as a producer appends, not by polling the partitions'
complete -c consume -l envelope -d 'Write each record as {"topic","partition","offset","timestamp","key","headers","value"}; headers as an array of {"key","value"} objects, in order (a name may repeat). Bytes that are not UTF-8 are written as "key_base64" or "value_base64" instead'
complete -c consume -l lag -d 'Show each partition\'s lag for --group: end offset minus committed offset (or minus the start offset, where retention deleted the committed one; or minus where --from starts, where nothing is committed yet or the committed one is past the end), and the age of the oldest unconsumed record'
complete -c consume -l list-groups -d 'List the groups and the topics they committed offsets for (only TOPICs\', if given)'
complete -c consume -l list-topics -d 'List the topics'
complete -c consume -l describe -d 'Describe TOPICs: partitions, start and end offsets, bytes (as stored), the first kept record\'s timestamp (oldest_timestamp) and the largest timestamp (newest_timestamp)'
complete -c consume -s q -l quiet -d 'Never show progress. On a terminal, a bar of bytes read (rate, ETA) is shown by the stage that reads files, the head of a pipeline; stages reading a pipe stay quiet'
complete -c consume -l progress -d 'Show progress on a terminal even when reading a pipe (bytes and rate, no ETA)'
complete -c consume -l stats -d 'At the end, print a one-line JSON summary to stderr: records in, out, rejected, bytes and seconds'
complete -c consume -s h -l help -d 'Print help (see more with \'--help\')'
complete -c consume -s V -l version -d 'Print version'
