//! The values that cross between a service and either engine, and the rows queries return.

use std::sync::Arc;

use crate::Error;

/// A parameter or column value. SQLite's storage classes; PostgreSQL's integer, float,
/// text, bytea and bool types map onto them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Integer(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Real(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Integer(value.into())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// A type a column can be read as.
pub trait FromValue: Sized {
    fn from_value(value: &Value) -> Result<Self, String>;
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(text) => Ok(text.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Integer(n) => Ok(*n),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Real(x) => Ok(*x),
            Value::Integer(n) => Ok(*n as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        i64::from_value(value).map(|n| n != 0)
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Blob(bytes) => Ok(bytes.clone()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One result row: values by column name.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Row {
        Row { columns, values }
    }

    /// The value of `column`, read as `T`.
    pub fn get<T: FromValue>(&self, column: &str) -> Result<T, Error> {
        let problem = |detail: String| Error::Column {
            column: column.to_owned(),
            detail,
        };
        let index = self
            .columns
            .iter()
            .position(|name| name == column)
            .ok_or_else(|| problem("no such column in the result".to_owned()))?;
        T::from_value(&self.values[index]).map_err(problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_read_by_name_and_type() {
        let row = Row::new(
            Arc::from(vec!["id".to_owned(), "note".to_owned()]),
            vec![Value::Integer(7), Value::Null],
        );
        assert_eq!(row.get::<i64>("id").unwrap(), 7);
        assert_eq!(row.get::<Option<String>>("note").unwrap(), None);
        let wrong = row.get::<String>("id").unwrap_err().to_string();
        assert!(
            wrong.contains("\"id\"") && wrong.contains("expected text"),
            "{wrong}"
        );
        assert!(row.get::<i64>("missing").is_err());
    }
}
