//! What a valid user is (pure): the checks every write passes, worded for the caller, and
//! page sizes. The REST layer checks the same constraints from the contract first; these
//! hold for gRPC callers too.

/// Longest display name, in characters.
pub const NAME_MAX: usize = 200;
/// Longest email address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
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

/// One `@` with text on both sides and no space or control character (U+0000 to U+0020):
/// exactly the contract's pattern, `^[^@\x00-\x20]+@[^@\x00-\x20]+$`.
/// Deliverability is the mail system's business, not a syntax check's.
pub fn check_email(email: &str) -> Result<(), Invalid> {
    if email.is_empty() {
        return Err(invalid("email", "is required"));
    }
    if email.chars().count() > EMAIL_MAX {
        return Err(invalid(
            "email",
            format!("is longer than {EMAIL_MAX} characters"),
        ));
    }
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c <= ' ')
        }
        None => false,
    };
    if !well_formed {
        return Err(invalid(
            "email",
            format!("{email:?} is not an email address (expected NAME@DOMAIN, no spaces or control characters)"),
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
        assert!(check_name("Ada").is_ok());
        assert!(check_name(" ").is_ok());
        assert_eq!(check_name("").unwrap_err().to_string(), "name: is required");
        assert!(check_name(&"é".repeat(NAME_MAX)).is_ok());
        assert!(check_name(&"é".repeat(NAME_MAX + 1)).is_err());
    }

    #[test]
    fn emails_need_one_at_with_text_around_and_no_spaces() {
        for good in [
            "ada@example.com",
            "a@b",
            "x+tag@sub.example.org",
            "!#$%&'*+-/=?^_`{|}~@x",
        ] {
            assert!(check_email(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a@b@c",
            "a da@example.com",
            "ada@exa\tmple",
            "a\u{1c}@b",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
        let message = check_email("nope").unwrap_err().to_string();
        assert!(
            message.starts_with("email: \"nope\" is not an email address"),
            "{message}"
        );
    }

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(7), Ok(7));
        assert_eq!(page_size(1000), Ok(1000));
        assert!(page_size(1001).is_err());
        assert!(page_size(-1).is_err());
    }
}
