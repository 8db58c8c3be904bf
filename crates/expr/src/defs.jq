# jq builtins that jaq lacks or defines otherwise, written as jq defines them.

# `null` joins as "" (jaq writes "null"); numbers and booleans as their JSON text; arrays
# and objects are an error.
def join($sep):
  reduce .[] as $x (null;
    (if . == null then "" else . + $sep end)
    + ($x | if . == null then "" elif isnumber or isboolean then tojson else . end))
  // "";

# A string that is not one JSON number is an error (jaq: no output for "").
def tonumber:
  if isnumber then .
  else [fromjson] | if length == 1 and (.[0] | isnumber) then .[0]
    else error("cannot parse as a number") end
  end;

# Entries may name their key k, name, Name, K or Key and their value v; keys that are not
# strings become their JSON text (jaq takes only key and value, and string keys).
def from_entries:
  reduce .[] as $x ({};
    . + { ($x | if .key == null then .k // .name // .Name // .K // .Key else .key end
              | if type == "string" then . else tojson end):
          ($x | if has("value") then .value else .v end) });
def with_entries(f): to_entries | map(f) | from_entries;

def IN(s): any(s == .; .);
def IN(src; s): any(src == s; .);
def INDEX(stream; key): reduce stream as $row ({}; .[$row | key | tostring] |= $row);
def INDEX(key): INDEX(.[]; key);

def leaf_paths: paths(scalars);
def toarray: if isarray then . else [.] end;
# Deletion as jq does it (see delete.rs): every path against the input as it was, and
# nothing to delete under null.
def delpaths($paths): _delpaths($paths);
def del(f): _delpaths([path(f)]);

# A prefix or suffix is taken off strings only; anything else comes back as it is.
def _ltrimstr($x): ltrimstr($x);
def _rtrimstr($x): rtrimstr($x);
def ltrimstr($x): if isstring and ($x | isstring) then _ltrimstr($x) else . end;
def rtrimstr($x): if isstring and ($x | isstring) then _rtrimstr($x) else . end;
def trimstr($x): ltrimstr($x) | rtrimstr($x);
def have_literal_numbers: true;
def have_decnum: false;

def tostream:
  path(def r: (.[]? | r), .; r) as $p
  | getpath($p)
  | reduce path(.[]?) as $q ([$p, .]; [$p + $q]);
def fromstream(f):
  { x: null, e: false } as $init
  | foreach f as $i ($init;
      if .e then $init else . end
      | if $i | length == 2
        then setpath(["e"]; $i[0] | length == 0) | setpath(["x"] + $i[0]; $i[1])
        else setpath(["e"]; $i[0] | length == 1)
        end;
      if .e then .x else empty end);
def truncate_stream(stream):
  . as $n | null | stream | . as $input
  | if (.[0] | length) > $n then setpath([0]; .[0][$n:]) else empty end;

def @base32: tostring | _encode_base32;
def @base32d: tostring | _decode_base32;

# A CSV row (RFC 4180 quoting) or a TSV row (backslash escapes) from an array of scalars.
def @csv:
  if isarray | not then error("\(type) (\(tojson)) cannot be csv-formatted, only an array can be")
  else map(
    if isstring then "\"" + (split("\"") | join("\"\"")) + "\""
    elif isnumber or isboolean then tojson
    elif . == null then ""
    else error("\(type) (\(tojson)) is not valid in a csv row")
    end) | join(",")
  end;
def @tsv:
  if isarray | not then error("\(type) (\(tojson)) cannot be tsv-formatted, only an array can be")
  else map(
    if isstring then
      split("\\") | join("\\\\") | split("\t") | join("\\t")
      | split("\n") | join("\\n") | split("\r") | join("\\r")
    elif isnumber or isboolean then tojson
    elif . == null then ""
    else error("\(type) (\(tojson)) is not valid in a tsv row")
    end) | join("\t")
  end;

# A step of 0 gives nothing, as in jq (jaq counts forever).
def range($from; $upto; $by):
  if $by > 0 then $from | while(. < $upto; . + $by)
  elif $by < 0 then $from | while(. > $upto; . + $by)
  else empty end;

# The capture strings when the expression has groups (even groups that took no part), else
# the match, as in jq.
def scan($re; $flags):
  matches($re; "g" + $flags)[] | if length > 1 then [.[1:][].string] else .[0].string end;
def scan($re): scan($re; null);

# Unpadded base64 decodes too, as in jq.
def @base64d: tostring | . + ("=" * ((4 - length % 4) % 4)) | decode_base64;

# Times: broken-down times (the arrays of gmtime) format as in jq, and %c, %x and %X have
# their C-locale meanings, as in jq (jiff writes "2015 M03 5" for %x).
def _c_locale:
  if test("%[cxX]") then
    split("%%")
    | map(gsub("%c"; "%a %b %e %H:%M:%S %Y") | gsub("%x"; "%m/%d/%y") | gsub("%X"; "%H:%M:%S"))
    | join("%%")
  end;
def _strftime($f): strftime($f);
def _strflocaltime($f): strflocaltime($f);
def _todateiso8601: todateiso8601;
def strftime($f): if isarray then mktime end | _strftime($f | _c_locale);
def strflocaltime($f):
  if isarray then mktime | _strftime($f | _c_locale) else _strflocaltime($f | _c_locale) end;
def todateiso8601: if isarray then mktime end | _todateiso8601;
def todate: todateiso8601;
def date: todate;
def dateadd(u; n): . + n;
def datesub(u; n): . - n;

# Array indexes keep their place (jaq made them object keys, which JSON cannot hold).
def pick(pathexps):
  . as $top | reduce path(pathexps) as $p (null; setpath($p; $top | getpath($p)));

# Dividing by zero is an error, as in jq (see vendor/jaq-json), so the special numbers are made
# without it; the tests on them are jaq's, bound to these.
def infinite: 1e1000 + 0;
def nan: infinite - infinite;
def isnan: . < nan and nan < .;
def isinfinite: . == infinite or . == -infinite;
def isfinite: isnumber and (isinfinite | not);
def isnormal: isnumber and ((. == 0 or isnan or isinfinite) | not);
def logb:
  if . == 0.0 then -infinite
  elif isinfinite then infinite
  elif isnan then .
  else ilogb | . + 0.0 end;
def significand:
  if isinfinite or isnan then .
  elif . == 0.0 then 0.0
  else scalbln(.; ilogb | -1 * .) end;
