complete -c filter -l rejected -d 'Write the records that are not kept (not passing, or sampled out) to this file; it appears when filter succeeds' -r -F
complete -c filter -l limit -d 'Stop after writing N records (the rest of the input is not read)' -r
complete -c filter -l sample -d 'Keep only this fraction (0 to 1) of the passing records, chosen by a hash of each record\'s source and line number: the same input and seed give the same sample' -r
complete -c filter -l seed -d 'Seed for --sample' -r
complete -c filter -l on-error -d 'What to do with a bad record: `fail` (stop, exit 1), `skip` (count it and go on) or `dead-letter=PATH` (append it to the NDJSON file PATH with its source, position and reason, and go on)' -r
complete -c filter -l max-record-bytes -d 'Largest record accepted (bytes; K, M, G, KiB, MiB, GiB suffixes). Larger records go through --on-error without being held in memory' -r
complete -c filter -l metrics-file -d 'At the end, replace PATH (atomically) with the run\'s metrics in Prometheus\' text format, for node_exporter\'s textfile collector: records in, out and rejected, bytes, seconds, exit status, and the time of the last successful run (kept across failed runs)' -r -F
complete -c filter -s v -l invert -d 'Keep the records for which the expression is not true'
complete -c filter -s q -l quiet -d 'Never show progress. On a terminal, a bar of bytes read (rate, ETA) is shown by the stage that reads files, the head of a pipeline; stages reading a pipe stay quiet'
complete -c filter -l progress -d 'Show progress on a terminal even when reading a pipe (bytes and rate, no ETA)'
complete -c filter -l stats -d 'At the end, print a one-line JSON summary to stderr: records in, out, rejected, bytes and seconds'
complete -c filter -s h -l help -d 'Print help (see more with \'--help\')'
complete -c filter -s V -l version -d 'Print version'
