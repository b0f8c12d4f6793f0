use serde::{Deserialize, Serialize};

/// A user-facing text in Chinese (zh-CN) and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub zh: String,
    pub en: String,
}

impl Label {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Label {
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// Reads `{ "zh": .., "en": .. }`; a plain string is used for both languages.
    pub(crate) fn from_json(value: &serde_json::Value) -> Option<Label> {
        match value {
            serde_json::Value::String(s) => Some(Label::new(s.clone(), s.clone())),
            serde_json::Value::Object(o) => {
                let zh = o.get("zh").and_then(|v| v.as_str());
                let en = o.get("en").and_then(|v| v.as_str());
                match (zh, en) {
                    (None, None) => None,
                    (zh, en) => Some(Label::new(
                        zh.or(en).unwrap_or_default(),
                        en.or(zh).unwrap_or_default(),
                    )),
                }
            }
            _ => None,
        }
    }
}
