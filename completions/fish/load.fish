complete -c load -l format -d 'The output format, instead of OUTPUT\'s extension (default for directories: parquet; for stdout: ndjson)' -r -f -a "ndjson\t'Newline-delimited JSON'
csv\t'Comma-separated values with a header row (RFC 4180 quoting)'
tsv\t'Tab-separated values with a header row'
parquet\t'Apache Parquet'
arrow\t'Arrow IPC file format'"
complete -c load -l compression -d 'Compression: Parquet defaults to snappy (also zstd, gzip, lz4, none); Arrow to none (zstd, lz4); row formats follow OUTPUT\'s extension (gzip, zstd, snappy, none)' -r -f -a "none\t'No compression'
snappy\t'Snappy (Parquet\'s default; framed `.sz` for row formats)'
zstd\t'zstd'
gzip\t'gzip'
lz4\t'LZ4 (Parquet\'s LZ4_RAW, Arrow\'s LZ4 frame)'"
complete -c load -l columns -d 'Only these fields, in this order (missing ones are null). For CSV, the columns' -r
complete -c load -s d -l delimiter -d 'CSV field separator (one ASCII character)' -r
complete -c load -l schema -d 'Read the schema from this file instead of inferring it (Parquet, Arrow)' -r -F
complete -c load -l schema-out -d 'Save the schema used (inferred or given) to this file' -r -F
complete -c load -l partition-by -d 'Write a Hive-style directory: one folder level per field (top-level fields)' -r
complete -c load -l max-rows-per-file -d 'Start a new part after this many records' -r
complete -c load -l max-bytes-per-file -d 'Start a new part once a part reaches about this size (e.g. 256MiB)' -r
complete -c load -l row-group-size -d 'Parquet row group size in rows' -r
complete -c load -l spill-dir -d 'Where to keep records between the two passes of schema inference or partitioning (default: $TMPDIR or /tmp)' -r -F
complete -c load -l on-error -d 'What to do with a bad record: `fail` (stop, exit 1), `skip` (count it and go on) or `dead-letter=PATH` (append it to the NDJSON file PATH with its source, position and reason, and go on)' -r
complete -c load -l max-record-bytes -d 'Largest record accepted (bytes; K, M, G, KiB, MiB, GiB suffixes). Larger records go through --on-error without being held in memory' -r
complete -c load -l metrics-file -d 'At the end, replace PATH (atomically) with the run\'s metrics in Prometheus\' text format, for node_exporter\'s textfile collector: records in, out and rejected, bytes, seconds, exit status, and the time of the last successful run (kept across failed runs)' -r -F
complete -c load -l keep-time-strings -d 'Keep RFC 3339 and YYYY-MM-DD strings as strings when inferring a schema'
complete -c load -l overwrite -d 'Replace an existing output file or directory'
complete -c load -l append -d 'Add new parts (with unique names) to an existing directory'
complete -c load -s q -l quiet -d 'Never show progress. On a terminal, a bar of bytes read (rate, ETA) is shown by the stage that reads files, the head of a pipeline; stages reading a pipe stay quiet'
complete -c load -l progress -d 'Show progress on a terminal even when reading a pipe (bytes and rate, no ETA)'
complete -c load -l stats -d 'At the end, print a one-line JSON summary to stderr: records in, out, rejected, bytes and seconds'
complete -c load -s h -l help -d 'Print help (see more with \'--help\')'
complete -c load -s V -l version -d 'Print version'
