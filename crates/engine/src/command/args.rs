//! Reading one method's parameters out of a JSON object: one generic reader per kind of value
//! (text, integer in a range, rate, flag bits, id-or-structure, ...), and the bookkeeping that
//! refuses missing, mistyped, out-of-range and unknown parameters with a message naming them.

use super::error::CommandError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// The longest rendering of a caller's value kept in a message.
const SHOW_MAX: usize = 80;

/// `text`, cut to [`SHOW_MAX`] characters with an ellipsis when longer.
pub(super) fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOW_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A caller's value as it appears in a message.
pub(super) fn show(value: &Value) -> String {
    shorten(&value.to_string())
}

/// One kind of parameter value: how to read it and how to describe a valid one.
pub(super) trait Kind {
    /// The typed value.
    type Out;
    /// What a valid value looks like, completing "must be ...".
    fn expected(&self) -> String;
    /// The typed value, or `None` when `value` is not valid.
    fn read(&self, value: &Value) -> Option<Self::Out>;
}

/// The parameters of one method (or one nested object), read one by one.
pub(super) struct Args<'a> {
    method: &'static str,
    /// Put before each parameter name in messages (`mappings["/a"].` for a nested entry).
    prefix: String,
    map: &'a Map<String, Value>,
    /// The names read so far; any other name present is unknown.
    read: Vec<&'static str>,
}

impl<'a> Args<'a> {
    /// The parameters `map` of `method`.
    pub(super) fn new(method: &'static str, map: &'a Map<String, Value>) -> Self {
        Self::nested(method, String::new(), map)
    }

    /// The fields of an object nested in a parameter, named `prefix` + field in messages.
    pub(super) fn nested(
        method: &'static str,
        prefix: String,
        map: &'a Map<String, Value>,
    ) -> Self {
        Args {
            method,
            prefix,
            map,
            read: Vec::new(),
        }
    }

    /// The method these parameters belong to.
    pub(super) fn method(&self) -> &'static str {
        self.method
    }

    /// The name of parameter `key` as messages show it.
    pub(super) fn name(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Optional parameter `key` of kind `kind`: `None` when absent or null.
    pub(super) fn opt<K: Kind>(
        &mut self,
        key: &'static str,
        kind: &K,
    ) -> Result<Option<K::Out>, CommandError> {
        self.opt_with(key, |args, value| {
            kind.read(value)
                .ok_or_else(|| args.invalid(key, kind.expected(), value))
        })
    }

    /// Required parameter `key` of kind `kind`.
    pub(super) fn req<K: Kind>(
        &mut self,
        key: &'static str,
        kind: &K,
    ) -> Result<K::Out, CommandError> {
        self.opt(key, kind)?.ok_or_else(|| self.missing(key))
    }

    /// Optional parameter `key`, read by `read` when present and not null.
    pub(super) fn opt_with<T>(
        &mut self,
        key: &'static str,
        read: impl FnOnce(&Self, &'a Value) -> Result<T, CommandError>,
    ) -> Result<Option<T>, CommandError> {
        self.read.push(key);
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => read(self, value).map(Some),
        }
    }

    /// Optional parameter `key` where null is a value of its own: `None` when absent,
    /// `Some(None)` when null.
    pub(super) fn opt_or_null<K: Kind>(
        &mut self,
        key: &'static str,
        kind: &K,
    ) -> Result<Option<Option<K::Out>>, CommandError> {
        self.read.push(key);
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(value) => kind
                .read(value)
                .map(|read| Some(Some(read)))
                .ok_or_else(|| self.invalid(key, kind.expected(), value)),
        }
    }

    /// Required parameter `key`, read by `read`.
    pub(super) fn req_with<T>(
        &mut self,
        key: &'static str,
        read: impl FnOnce(&Self, &'a Value) -> Result<T, CommandError>,
    ) -> Result<T, CommandError> {
        self.opt_with(key, read)?.ok_or_else(|| self.missing(key))
    }

    /// Required parameter `key` that callers may also give under its older name `alias`;
    /// giving both is refused, since the two could disagree.
    pub(super) fn req_aliased<K: Kind>(
        &mut self,
        key: &'static str,
        alias: &'static str,
        kind: &K,
    ) -> Result<K::Out, CommandError> {
        let named = self.opt(key, kind)?;
        let aliased = self.opt(alias, kind)?;
        match (named, aliased) {
            (Some(_), Some(_)) => Err(self.conflict(format!(
                "{} and {} are two names of one parameter: give only {}",
                self.name(key),
                self.name(alias),
                self.name(key)
            ))),
            (Some(value), None) | (None, Some(value)) => Ok(value),
            (None, None) => Err(self.missing(key)),
        }
    }

    /// Required parameter `key` is absent or null.
    fn missing(&self, key: &str) -> CommandError {
        CommandError::Missing {
            method: self.method,
            param: self.name(key),
        }
    }

    /// Parameter `key` has the value `got`, which is not `expected`.
    pub(super) fn invalid(&self, key: &str, expected: String, got: &Value) -> CommandError {
        CommandError::Invalid {
            method: self.method,
            param: self.name(key),
            expected,
            got: show(got),
        }
    }

    /// Parameters that cannot go together, for the reason given (which names them).
    pub(super) fn conflict(&self, reason: String) -> CommandError {
        CommandError::Conflict {
            method: self.method,
            reason,
        }
    }

    /// Fails on the first parameter present that was never read: it is not one of the method's.
    pub(super) fn finish(self) -> Result<(), CommandError> {
        match self
            .map
            .keys()
            .find(|key| !self.read.contains(&key.as_str()))
        {
            Some(unknown) => Err(CommandError::UnknownParameter {
                method: self.method,
                param: self.name(&shorten(unknown)),
            }),
            None => Ok(()),
        }
    }
}

/// Any string.
pub(super) struct Text;

impl Kind for Text {
    type Out = String;
    fn expected(&self) -> String {
        "a string".into()
    }
    fn read(&self, value: &Value) -> Option<String> {
        value.as_str().map(str::to_owned)
    }
}

/// A string with something other than white space in it.
pub(super) struct NonBlank;

impl Kind for NonBlank {
    type Out = String;
    fn expected(&self) -> String {
        "a non-blank string".into()
    }
    fn read(&self, value: &Value) -> Option<String> {
        value
            .as_str()
            .filter(|text| !text.trim().is_empty())
            .map(str::to_owned)
    }
}

/// `true` or `false`.
pub(super) struct Bool;

impl Kind for Bool {
    type Out = bool;
    fn expected(&self) -> String {
        "true or false".into()
    }
    fn read(&self, value: &Value) -> Option<bool> {
        value.as_bool()
    }
}

/// The integer a JSON number holds, if it holds one (`5.0` counts: JavaScript has no other).
fn integer(value: &Value) -> Option<i128> {
    let number = value.as_number()?;
    if let Some(i) = number.as_i64() {
        return Some(i.into());
    }
    if let Some(u) = number.as_u64() {
        return Some(u.into());
    }
    let f = number.as_f64()?;
    // Beyond 2^64 no integer parameter can hold it; the bound also keeps the cast exact.
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 18_446_744_073_709_551_616.0)
        .then_some(f as i128)
}

/// An integer from `min` to `max`, as `T` (which holds that whole range).
pub(super) struct Int<T> {
    min: i128,
    max: i128,
    out: PhantomData<fn() -> T>,
}

impl<T> Int<T> {
    /// Integers from `min` to `max` inclusive.
    pub(super) const fn new(min: i128, max: i128) -> Self {
        Int {
            min,
            max,
            out: PhantomData,
        }
    }
}

impl<T: TryFrom<i128>> Kind for Int<T> {
    type Out = T;
    fn expected(&self) -> String {
        if self.max >= i128::from(i64::MAX) {
            format!("an integer of at least {}", self.min)
        } else {
            format!("an integer from {} to {}", self.min, self.max)
        }
    }
    fn read(&self, value: &Value) -> Option<T> {
        integer(value)
            .filter(|i| (self.min..=self.max).contains(i))
            .and_then(|i| T::try_from(i).ok())
    }
}

/// An integer made only of the bits in `known`.
pub(super) struct Bits {
    /// Every bit that may be set.
    pub(super) known: u32,
}

impl Kind for Bits {
    type Out = u32;
    fn expected(&self) -> String {
        format!(
            "an integer made of the known flag bits (a subset of {:#x})",
            self.known
        )
    }
    fn read(&self, value: &Value) -> Option<u32> {
        integer(value)
            .and_then(|i| u32::try_from(i).ok())
            .filter(|bits| bits & !self.known == 0)
    }
}

/// A finite number of at least 0, or exactly -1 when `minus_one` ("no limit") is allowed.
pub(super) struct Number {
    /// Whether -1 is accepted.
    pub(super) minus_one: bool,
}

impl Kind for Number {
    type Out = f64;
    fn expected(&self) -> String {
        if self.minus_one {
            "a number of at least 0, or -1 for no limit".into()
        } else {
            "a number of at least 0".into()
        }
    }
    fn read(&self, value: &Value) -> Option<f64> {
        value
            .as_f64()
            .filter(|f| f.is_finite() && (*f >= 0.0 || (self.minus_one && *f == -1.0)))
    }
}

/// An id given alone or inside the structure that holds it under `field` ("(str, dict)" and
/// "(int, dict)" parameters); the structure's other fields are ignored.
pub(super) struct Ref<K> {
    /// The kind of the id itself.
    pub(super) id: K,
    /// What the id is, for messages ("a destination id").
    pub(super) what: &'static str,
    /// The structure's field holding the id.
    pub(super) field: &'static str,
}

impl<K: Kind> Kind for Ref<K> {
    type Out = K::Out;
    fn expected(&self) -> String {
        format!(
            "{} ({}) or a structure holding {}",
            self.what,
            self.id.expected(),
            self.field
        )
    }
    fn read(&self, value: &Value) -> Option<K::Out> {
        match value {
            Value::Object(structure) => structure.get(self.field).and_then(|id| self.id.read(id)),
            id => self.id.read(id),
        }
    }
}

/// An object of string keys and string values.
pub(super) struct StringMap;

impl Kind for StringMap {
    type Out = BTreeMap<String, String>;
    fn expected(&self) -> String {
        "an object of string values".into()
    }
    fn read(&self, value: &Value) -> Option<Self::Out> {
        value
            .as_object()?
            .iter()
            .map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .collect()
    }
}

/// An array of strings.
pub(super) struct StringList;

impl Kind for StringList {
    type Out = Vec<String>;
    fn expected(&self) -> String {
        "an array of strings".into()
    }
    fn read(&self, value: &Value) -> Option<Self::Out> {
        value
            .as_array()?
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_come_from_any_integral_json_number() {
        assert_eq!(integer(&json!(-5)), Some(-5));
        assert_eq!(integer(&json!(u64::MAX)), Some(u64::MAX.into()));
        assert_eq!(integer(&json!(3.0)), Some(3));
        for not_integer in [
            json!(1.5),
            json!(1e20),
            json!("3"),
            json!(true),
            json!(null),
        ] {
            assert_eq!(integer(&not_integer), None, "{not_integer}");
        }
    }

    #[test]
    fn ranges_read_their_bounds_and_describe_them() {
        let priority = Int::<u32>::new(0, u32::MAX.into());
        assert_eq!(priority.read(&json!(4_294_967_295u64)), Some(u32::MAX));
        assert_eq!(priority.read(&json!(4_294_967_296u64)), None);
        assert_eq!(priority.read(&json!(-1)), None);
        assert_eq!(priority.expected(), "an integer from 0 to 4294967295");
        let limit = Int::<u64>::new(0, u64::MAX.into());
        assert_eq!(limit.expected(), "an integer of at least 0");
    }

    #[test]
    fn rates_accept_minus_one_only_when_it_means_no_limit() {
        let unlimited = Number { minus_one: true };
        assert_eq!(unlimited.read(&json!(-1)), Some(-1.0));
        assert_eq!(unlimited.read(&json!(-0.5)), None);
        assert_eq!(Number { minus_one: false }.read(&json!(-1)), None);
        assert_eq!(Number { minus_one: false }.read(&json!(0)), Some(0.0));
    }

    #[test]
    fn references_take_the_id_or_the_structure_holding_it() {
        let id = Ref {
            id: NonBlank,
            what: "a destination id",
            field: "destinationId",
        };
        assert_eq!(id.read(&json!("d1")), Some("d1".to_owned()));
        assert_eq!(
            id.read(&json!({ "destinationId": "d1", "destinationPort": 1 })),
            Some("d1".to_owned())
        );
        assert_eq!(id.read(&json!({ "manifestId": "m1" })), None);
        assert!(id.expected().contains("destinationId"));
    }

    #[test]
    fn unread_names_are_unknown_and_carry_the_nesting() {
        let map = json!({ "src": "/a", "mode": 1 });
        let map = map.as_object().expect("an object");
        let mut args = Args::nested("createManifest", "mappings[\"/d\"].".into(), map);
        assert_eq!(args.req("src", &NonBlank), Ok("/a".to_owned()));
        let err = args.finish().expect_err("mode is unknown");
        assert_eq!(err.param(), Some("mappings[\"/d\"].mode"));
    }

    #[test]
    fn an_aliased_parameter_is_read_under_either_name_but_not_both() {
        for map in [
            json!({ "clientPublicKey": "k1" }),
            json!({ "publicKey": "k1" }),
        ] {
            let map = map.as_object().expect("an object");
            let mut args = Args::new("addAuthorizedClientAsync", map);
            let key = args.req_aliased("clientPublicKey", "publicKey", &NonBlank);
            assert_eq!(key, Ok("k1".to_owned()));
            assert_eq!(args.finish(), Ok(()));
        }
        let both = json!({ "clientPublicKey": "k1", "publicKey": "k2" });
        let mut args = Args::new(
            "addAuthorizedClientAsync",
            both.as_object().expect("object"),
        );
        let err = args
            .req_aliased("clientPublicKey", "publicKey", &NonBlank)
            .expect_err("both names given");
        assert!(matches!(err, CommandError::Conflict { .. }), "{err:?}");
        let none = json!({});
        let mut args = Args::new(
            "addAuthorizedClientAsync",
            none.as_object().expect("object"),
        );
        let err = args
            .req_aliased("clientPublicKey", "publicKey", &NonBlank)
            .expect_err("neither name given");
        assert_eq!(err.param(), Some("clientPublicKey"));
    }

    #[test]
    fn long_values_are_shortened_on_a_character_boundary() {
        let long = "é".repeat(200);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), SHOW_MAX + 1);
        assert!(short.ends_with('…'));
        assert_eq!(shorten("short"), "short");
    }
}
