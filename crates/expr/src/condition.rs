//! A jq predicate over records: answered from the record's bytes when simple, by the full
//! program otherwise, with the same result either way.

use sluice_stream::scan::FieldSpan;

use crate::{json, truthy, Predicate, Program};

/// A compiled jq predicate (`.temp > 30`, `select(.level == "error")`, `.tags | any(. == "x")`).
pub struct Condition {
    program: Program,
    predicate: Option<Predicate>,
}

impl Condition {
    /// Compiles `code`; the error says why it is not a program.
    pub fn compile(code: &str) -> Result<Condition, String> {
        Ok(Condition {
            program: Program::compile(code)?,
            predicate: Predicate::compile(code),
        })
    }

    /// True when the program yields a true value for the valid object `text`, whose
    /// top-level `fields` are given; the error is the program's.
    pub fn holds(&self, text: &[u8], fields: &[FieldSpan]) -> Result<bool, String> {
        if let Some(verdict) = self.predicate.as_ref().and_then(|p| p.eval(text, fields)) {
            return Ok(verdict);
        }
        let record = json::parse_valid(text)?;
        let mut pass = false;
        self.program.run(record, |value| {
            pass = truthy(&value);
            !pass
        })?;
        Ok(pass)
    }
}
