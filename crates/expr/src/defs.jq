# jq builtins that jaq lacks or defines otherwise, written as jq defines them.

# `null` joins as "" (jaq writes "null"); numbers and booleans as their JSON text; arrays
# and objects are an error.
def join($sep):
  reduce .[] as $x (null;
    (if . == null then "" else . + $sep end)
    + ($x | if . == null then "" elif type == "number" or type == "boolean" then tojson else . end))
  // "";

# Paths are deleted last first, so that deleting one does not move the others; a path
# that is not there is left alone (jaq: `f |= empty`, which does both otherwise).
def delpaths($paths):
  def del1($p):
    if ($p | length) == 0 then null
    elif ($p | length) == 1 then .[$p[0]] |= empty
    elif getpath([$p[0]]) == null then .
    else .[$p[0]] |= del1($p[1:])
    end;
  reduce ($paths | unique | reverse)[] as $p (.; del1($p));
def del(f): delpaths([path(f)]);

# A string that is not one JSON number is an error (jaq: no output for "").
def tonumber:
  if type == "number" then .
  elif type == "string" then
    [fromjson?] as $v
    | if ($v | length) == 1 and ($v[0] | type) == "number" then $v[0]
      else error("cannot parse \(tojson) as a number")
      end
  else error("\(type) (\(tojson)) cannot be parsed as a number")
  end;

def IN(s): any(s == .; .);
def IN(src; s): any(src == s; .);
def INDEX(stream; key): reduce stream as $row ({}; .[$row | key | tostring] |= $row);
def INDEX(key): INDEX(.[]; key);

# Anything but a string prefix or suffix leaves the input as it is (jaq: an error).
def ltrimstr($x):
  if type == "string" and ($x | type) == "string" and startswith($x)
  then .[($x | length):] else . end;
def rtrimstr($x):
  if type == "string" and ($x | type) == "string" and endswith($x)
  then .[:length - ($x | length)] else . end;

def leaf_paths: paths(scalars);
def toarray: if type == "array" then . else [.] end;
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

# A CSV row (RFC 4180 quoting) or a TSV row (backslash escapes) from an array of scalars.
def @csv:
  if type != "array" then error("\(type) (\(tojson)) cannot be csv-formatted, only an array can be")
  else map(
    if type == "string" then "\"" + (split("\"") | join("\"\"")) + "\""
    elif type == "number" or type == "boolean" then tojson
    elif . == null then ""
    else error("\(type) (\(tojson)) is not valid in a csv row")
    end) | join(",")
  end;
def @tsv:
  if type != "array" then error("\(type) (\(tojson)) cannot be tsv-formatted, only an array can be")
  else map(
    if type == "string" then
      split("\\") | join("\\\\") | split("\t") | join("\\t")
      | split("\n") | join("\\n") | split("\r") | join("\\r")
    elif type == "number" or type == "boolean" then tojson
    elif . == null then ""
    else error("\(type) (\(tojson)) is not valid in a tsv row")
    end) | join("\t")
  end;
