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

/// The result of one checklist item (code table `inspection_result`: 合格, 不合格, 不适用).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ItemResult {
    #[serde(rename = "pass")]
    Pass,
    #[serde(rename = "fail")]
    Fail,
    #[serde(rename = "na")]
    NotApplicable,
}

impl ItemResult {
    /// The code table that names the results.
    pub const TABLE: &'static str = "inspection_result";
    pub const ALL: [ItemResult; 3] = [
        ItemResult::Pass,
        ItemResult::Fail,
        ItemResult::NotApplicable,
    ];

    /// The code stored in a record.
    pub fn code(self) -> &'static str {
        match self {
            ItemResult::Pass => "pass",
            ItemResult::Fail => "fail",
            ItemResult::NotApplicable => "na",
        }
    }

    pub fn parse(code: &str) -> Option<ItemResult> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl std::fmt::Display for ItemResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
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

    /// Takes `other`'s tables over these: its labels and code order win, and no code is lost
    /// (a code only here is kept after `other`'s codes; tables only here stay), since records
    /// made with these tables may hold any of their codes.
    pub fn overlay(&mut self, other: CodeTables) {
        for (id, mut table) in other.tables {
            if let Some(old) = self.tables.remove(&id) {
                for code in old.codes {
                    if !table.contains(&code.code) {
                        table.codes.push(code);
                    }
                }
            }
            self.tables.insert(id, table);
        }
    }

    /// Checks that `next` may replace these tables: records hold codes, so every table and
    /// every code stays (labels may change, codes and tables may be added).
    pub fn check_successor(&self, next: &CodeTables) -> Result<(), ModelError> {
        for (id, table) in &self.tables {
            let Some(new) = next.tables.get(id) else {
                return Err(ModelError::BadCodeTables(format!(
                    "table {id} is missing: code tables may grow, never lose a table"
                )));
            };
            if let Some(code) = table.codes.iter().find(|c| !new.contains(&c.code)) {
                return Err(ModelError::BadCodeTables(format!(
                    "table {id} lost code {}: codes may be added or relabelled, never removed",
                    code.code
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_results_are_the_inspection_result_table() {
        let tables = CodeTables::from_json(crate::builtin::CODE_TABLES).unwrap();
        let codes: Vec<&str> = tables
            .get(ItemResult::TABLE)
            .unwrap()
            .codes
            .iter()
            .map(|c| c.code.as_str())
            .collect();
        let ours: Vec<&str> = ItemResult::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes, ours);
        assert_eq!(ItemResult::parse("na"), Some(ItemResult::NotApplicable));
        assert_eq!(ItemResult::parse("合格"), None);
    }
}
