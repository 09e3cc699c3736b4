//! What a valid note is (pure): the checks every write passes, worded for the caller,
//! and page sizes. The REST layer checks the same constraints from the contract first;
//! these hold for gRPC callers too.

/// Longest display name, in characters.
pub const NAME_MAX: usize = 200;
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Invalid {
    pub field: &'static str,
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> Invalid {
    Invalid {
        field,
        problem: problem.into(),
    }
}

pub fn check_name(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(invalid("name", "is required"));
    }
    if name.chars().count() > NAME_MAX {
        return Err(invalid(
            "name",
            format!("is longer than {NAME_MAX} characters"),
        ));
    }
    Ok(())
}

pub fn check_id(id: &str) -> Result<(), Invalid> {
    if id.is_empty() {
        return Err(invalid("id", "is required"));
    }
    Ok(())
}

/// The page size a request asks for: 0 means the default.
pub fn page_size(requested: i32) -> Result<u32, Invalid> {
    match u32::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(invalid(
            "page_size",
            format!("{requested} is not between 0 and {MAX_PAGE_SIZE}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_required_and_bounded() {
        assert!(check_name("first").is_ok());
        assert_eq!(check_name("").unwrap_err().to_string(), "name: is required");
        assert!(check_name(&"é".repeat(NAME_MAX)).is_ok());
        assert!(check_name(&"é".repeat(NAME_MAX + 1)).is_err());
    }

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(1000), Ok(1000));
        assert!(page_size(1001).is_err());
        assert!(page_size(-1).is_err());
    }
}
