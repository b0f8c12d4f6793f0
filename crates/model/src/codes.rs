use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Label, ModelError};

/// One code of a code table, with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Code {
    pub code: String,
    pub zh: String,
    pub en: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A code table (domain.md section 4): an ordered list of codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeTable {
    pub label: Label,
    pub codes: Vec<Code>,
}

impl CodeTable {
    pub fn contains(&self, code: &str) -> bool {
        self.codes.iter().any(|c| c.code == code)
    }

    pub fn get(&self, code: &str) -> Option<&Code> {
        self.codes.iter().find(|c| c.code == code)
    }
}

/// All code tables, by table id. Loaded from `schemas/code_tables.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeTables {
    pub tables: BTreeMap<String, CodeTable>,
}

impl CodeTables {
    pub fn from_json(text: &str) -> Result<CodeTables, ModelError> {
        let tables: CodeTables =
            serde_json::from_str(text).map_err(|e| ModelError::BadCodeTables(e.to_string()))?;
        for (id, table) in &tables.tables {
            let mut seen = std::collections::BTreeSet::new();
            for code in &table.codes {
                if !seen.insert(code.code.as_str()) {
                    return Err(ModelError::BadCodeTables(format!(
                        "table {id} repeats code {}",
                        code.code
                    )));
                }
            }
        }
        Ok(tables)
    }

    pub fn get(&self, id: &str) -> Option<&CodeTable> {
        self.tables.get(id)
    }
}
