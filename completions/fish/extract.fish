complete -c extract -l format -d 'The input format, instead of guessing it from the name and first bytes' -r -f -a "csv\t'Comma-separated values (RFC 4180), or any --delimiter'
tsv\t'Tab-separated values'
json\t'A JSON array of objects, one object, or objects one after another (pretty or not)'
ndjson\t'Newline-delimited JSON: one object per line'
parquet\t'Apache Parquet'
arrow\t'Arrow IPC, file or stream format (also Feather v2)'"
complete -c extract -s d -l delimiter -d 'CSV field separator (one ASCII character; `\\t` or `tab` for tabs)' -r
complete -c extract -l quote -d 'The character that quotes CSV/TSV fields (RFC 4180; doubled inside them), or `none` for files that never quote, such as TSV files in which a field may start with `"`' -r
complete -c extract -l null -d 'An unquoted CSV value that means null (repeatable; a quoted one is always a string). Default: the empty string' -r
complete -c extract -l infer -d '`auto` types CSV numbers and booleans; `none` keeps every value a string' -r -f -a "auto\t'Numbers and booleans become JSON numbers and booleans'
none\t'Every value stays a string'"
complete -c extract -l columns -d 'Only these columns (or top-level fields), in this order' -r
complete -c extract -l source-field -d 'Add a field with this name holding each record\'s file name (`-` for stdin)' -r
complete -c extract -l state -d 'Remember what was extracted in FILE and emit only new data on the next run: new files, changed files, and what was appended to plain CSV/TSV/NDJSON files' -r -F
complete -c extract -l state-out -d 'Write the updated state here instead of over --state (move it over --state once the whole pipeline succeeded)' -r -F
complete -c extract -l on-error -d 'What to do with a bad record: `fail` (stop, exit 1), `skip` (count it and go on) or `dead-letter=PATH` (append it to the NDJSON file PATH with its source, position and reason, and go on)' -r
complete -c extract -l max-record-bytes -d 'Largest record accepted (bytes; K, M, G, KiB, MiB, GiB suffixes). Larger records go through --on-error without being held in memory' -r
complete -c extract -l metrics-file -d 'At the end, replace PATH (atomically) with the run\'s metrics in Prometheus\' text format, for node_exporter\'s textfile collector: records in, out and rejected, bytes, seconds, exit status, and the time of the last successful run (kept across failed runs)' -r -F
complete -c extract -l no-header -d 'The CSV has no header row: columns are named column_1, column_2, …'
complete -c extract -s q -l quiet -d 'Never show progress. On a terminal, a bar of bytes read (rate, ETA) is shown by the stage that reads files, the head of a pipeline; stages reading a pipe stay quiet'
complete -c extract -l progress -d 'Show progress on a terminal even when reading a pipe (bytes and rate, no ETA)'
complete -c extract -l stats -d 'At the end, print a one-line JSON summary to stderr: records in, out, rejected, bytes and seconds'
complete -c extract -s h -l help -d 'Print help (see more with \'--help\')'
complete -c extract -s V -l version -d 'Print version'
