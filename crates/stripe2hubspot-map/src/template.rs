//! The deal name template: literal text with `{placeholder}`s.

/// A placeholder a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Amount,
    Currency,
    Id,
    Email,
    Name,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Text(&'a str),
    Field(Field),
}

/// A parsed template, borrowing the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template<'a>(Vec<Segment<'a>>);

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    Empty,
    Unclosed,
    StrayClose,
    Unknown(String),
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Empty => f.write_str("the template is empty; give a deal name such as \"Payment {amount} {currency} ({id})\""),
            TemplateError::Unclosed => f.write_str("a `{` is never closed; write `{{` for a literal brace"),
            TemplateError::StrayClose => f.write_str("a `}` closes nothing; write `}}` for a literal brace"),
            TemplateError::Unknown(name) => write!(
                f,
                "unknown placeholder {{{name}}}; use {{amount}}, {{currency}}, {{id}}, {{email}} or {{name}}"
            ),
        }
    }
}

impl<'a> Template<'a> {
    pub(crate) fn parse(text: &'a str) -> Result<Self, TemplateError> {
        if text.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let Some(at) = rest.find(['{', '}']) else {
                segments.push(Segment::Text(rest));
                break;
            };
            if at > 0 {
                segments.push(Segment::Text(&rest[..at]));
            }
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("{{") {
                segments.push(Segment::Text("{"));
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                segments.push(Segment::Text("}"));
                rest = after;
            } else if tail.starts_with('}') {
                return Err(TemplateError::StrayClose);
            } else {
                let end = tail.find('}').ok_or(TemplateError::Unclosed)?;
                let field = match &tail[1..end] {
                    "amount" => Field::Amount,
                    "currency" => Field::Currency,
                    "id" => Field::Id,
                    "email" => Field::Email,
                    "name" => Field::Name,
                    other => return Err(TemplateError::Unknown(other.to_owned())),
                };
                segments.push(Segment::Field(field));
                rest = &tail[end + 1..];
            }
        }
        Ok(Template(segments))
    }

    /// Fills the placeholders; `value` returns "" for what the payment lacks.
    pub(crate) fn render<'v>(&self, value: impl Fn(Field) -> &'v str) -> String {
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Field(field) => out.push_str(value(*field)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str) -> String {
        Template::parse(text).unwrap().render(|f| match f {
            Field::Amount => "1.00",
            Field::Currency => "USD",
            Field::Id => "pi_1",
            Field::Email => "a@b.c",
            Field::Name => "Ann",
        })
    }

    #[test]
    fn fills_placeholders_and_escapes() {
        assert_eq!(
            render("Payment {amount} {currency} ({id})"),
            "Payment 1.00 USD (pi_1)"
        );
        assert_eq!(render("{{{name}}} <{email}>"), "{Ann} <a@b.c>");
        assert_eq!(render("plain"), "plain");
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(Template::parse(" "), Err(TemplateError::Empty));
        assert_eq!(Template::parse("x {amount"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("x } y"), Err(TemplateError::StrayClose));
        assert_eq!(
            Template::parse("{price}"),
            Err(TemplateError::Unknown("price".into()))
        );
    }
}
