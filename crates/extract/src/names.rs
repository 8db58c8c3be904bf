//! Column names as the keys of one record: never twice, and never the `--source-field`'s.

use std::collections::HashSet;

/// `names` made unique: a name seen before, or the `reserved` one (the `--source-field`,
/// which the record also gets), becomes `NAME_2` (or `_3`, …, the first that is free), as
/// CSV readers name repeated headers.
pub fn unique_names<S: Into<String>>(
    names: impl IntoIterator<Item = S>,
    reserved: Option<&str>,
) -> Vec<String> {
    let mut taken: HashSet<String> = reserved.map(str::to_string).into_iter().collect();
    names
        .into_iter()
        .map(|name| {
            let base = name.into();
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            taken.insert(name.clone());
            name
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_reserved_names_get_a_suffix() {
        assert_eq!(
            unique_names(["a", "b", "a", "a"], None),
            ["a", "b", "a_2", "a_3"]
        );
        assert_eq!(unique_names(["file", "a"], Some("file")), ["file_2", "a"]);
        assert_eq!(unique_names(["a", "a_2", "a"], None), ["a", "a_2", "a_3"]);
    }
}
