complete -c compact -l topic -d 'Compact the records of this topic of the embedded log instead of files: each run takes every partition\'s records up to the end as of its start, from where the last commit stopped (the offsets live in the lake\'s manifest)' -r
complete -c compact -l group -d 'With --topic: the consumer group whose committed offsets are set to the lake\'s after each commit, so that `consume --lag --group NAME` reports what is not compacted yet' -r
complete -c compact -l log-dir -d 'The log directory holding the topics. Default: $SLUICE_LOG_DIR, else $XDG_STATE_HOME/sluice/log, else ~/.local/state/sluice/log (cron has HOME, so cron jobs and terminals share it)' -r -F
complete -c compact -l time-field -d 'The field holding each record\'s event time (a.b for a nested field)' -r
complete -c compact -l window -d 'The window size: 5m, 1h, 1d, … (windows start at the Unix epoch, in UTC)' -r
complete -c compact -l key -d 'Key compaction: keep only the latest record of each value of FIELD (a.b for a nested field), instead of cutting records into time windows' -r
complete -c compact -l order-by -d 'With --key: the field whose greatest value (an integer or an RFC 3339 time) makes a key\'s latest record, instead of the order records come in. The same on every run' -r
complete -c compact -l delete-when -d 'With --key: a jq predicate; a record for which it is true deletes its key' -r
complete -c compact -l buckets -d 'With --key: how many buckets (folders) keys are spread over, by a hash of the key. The same on every run' -r
complete -c compact -l epoch-unit -d 'How numeric times count: seconds, milliseconds, or auto (milliseconds when the number is 100,000,000,000 or more)' -r -f -a "auto\t'Seconds, or milliseconds when the number is 100,000,000,000 or more in size (which as seconds would be after the year 5000)'
s\t'Seconds (fractions kept to the millisecond)'
ms\t'Milliseconds'"
complete -c compact -l path-template -d 'The folder of a window, a strftime pattern of its start (UTC), such as \'year=%Y/month=%m/day=%d/hour=%H\'. Fixed by the lake\'s first commit' -r
complete -c compact -l max-files-per-window -d 'Rewrite a window\'s smallest files into one (up to --target-file-size) once it would hold more files than this' -r
complete -c compact -l target-file-size -d 'The size files are written up to (a window\'s file rolls over there); files under an eighth of it are small, and are rewritten together' -r
complete -c compact -l max-lateness -d 'Reject records older than this before the newest record in the lake (5m, 2h, 7d)' -r
complete -c compact -l memory -d 'Memory for sorting records into windows; beyond it records are split on disk' -r
complete -c compact -l compression -d 'Parquet compression' -r -f -a "none\t'No compression'
snappy\t'Snappy (Parquet\'s default; framed `.sz` for row formats)'
zstd\t'zstd'
gzip\t'gzip'
lz4\t'LZ4 (Parquet\'s LZ4_RAW, Arrow\'s LZ4 frame)'"
complete -c compact -l format -d 'The inputs\' format, instead of their names or contents' -r -f -a "csv\t'Comma-separated values (RFC 4180), or any --delimiter'
tsv\t'Tab-separated values'
json\t'A JSON array of objects, one object, or objects one after another (pretty or not)'
ndjson\t'Newline-delimited JSON: one object per line'
parquet\t'Apache Parquet'
arrow\t'Arrow IPC, file or stream format (also Feather v2)'"
complete -c compact -l null -d 'CSV inputs: a field equal to MARKER is null (repeatable), as extract --null' -r
complete -c compact -l keep-manifests -d 'Manifests kept in DEST/_sluice/manifest (older ones are deleted)' -r
complete -c compact -l spill-dir -d 'Where records wait between reading and writing (default: DEST/_sluice)' -r -F
complete -c compact -l on-error -d 'What to do with a bad record: `fail` (stop, exit 1), `skip` (count it and go on) or `dead-letter=PATH` (append it to the NDJSON file PATH with its source, position and reason, and go on)' -r
complete -c compact -l max-record-bytes -d 'Largest record accepted (bytes; K, M, G, KiB, MiB, GiB suffixes). Larger records go through --on-error without being held in memory' -r
complete -c compact -l metrics-file -d 'At the end, replace PATH (atomically) with the run\'s metrics in Prometheus\' text format, for node_exporter\'s textfile collector: records in, out and rejected, bytes, seconds, exit status, and the time of the last successful run (kept across failed runs)' -r -F
complete -c compact -l delete-inputs -d 'Delete consumed inputs instead of moving them to SOURCE/_done/'
complete -c compact -l keep-inputs -d 'Leave consumed inputs where they are (the manifest remembers them)'
complete -c compact -l keep-time-strings -d 'Keep RFC 3339 and YYYY-MM-DD strings as strings in the files (default: timestamps and dates)'
complete -c compact -s q -l quiet -d 'Never show progress. On a terminal, a bar of bytes read (rate, ETA) is shown by the stage that reads files, the head of a pipeline; stages reading a pipe stay quiet'
complete -c compact -l progress -d 'Show progress on a terminal even when reading a pipe (bytes and rate, no ETA)'
complete -c compact -l stats -d 'At the end, print a one-line JSON summary to stderr: records in, out, rejected, bytes and seconds'
complete -c compact -s h -l help -d 'Print help (see more with \'--help\')'
complete -c compact -s V -l version -d 'Print version'
