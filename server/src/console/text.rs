//! The console's words: Chinese first, English on request.

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Lang {
        if s.eq_ignore_ascii_case("en") {
            Lang::En
        } else {
            Lang::Zh
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of the page.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The switch's label (in the language it switches to).
    pub fn switch_label(self) -> &'static str {
        match self.other() {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }
}

/// `zh` or `en`, as the page's language asks.
pub fn t<'a>(lang: Lang, zh: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

pub fn status(lang: Lang, s: &str) -> String {
    let (zh, en) = match s {
        "draft" => ("草稿", "Draft"),
        "submitted" => ("待审核", "Submitted"),
        "returned" => ("已退回", "Returned"),
        "approved" => ("已通过", "Approved"),
        "reopened" => ("重新打开", "Reopened"),
        other => (other, other),
    };
    t(lang, zh, en).to_string()
}

pub fn kind(lang: Lang, k: &str) -> String {
    let (zh, en) = match k {
        "village_inspection" => ("农村环境整治检查", "Village inspection"),
        "water_body_check" => ("农村黑臭水体排查", "Water body check"),
        "soil_sample" => ("耕地土壤采样", "Soil sample"),
        "sewage_facility_inspection" => ("污水处理设施检查", "Sewage facility inspection"),
        other => (other, other),
    };
    t(lang, zh, en).to_string()
}

pub fn csrf(lang: Lang) -> &'static str {
    t(
        lang,
        "页面已过期或来源不明，操作未执行。请刷新页面后重试。",
        "The page expired or did not come from this console; nothing was done. Reload and try again.",
    )
}

pub fn wait_message(lang: Lang, seconds: u64) -> String {
    match lang {
        Lang::Zh => format!("尝试次数过多，请 {seconds} 秒后再试。"),
        Lang::En => format!("Too many attempts: try again in {seconds} s."),
    }
}

/// An API error in plain words; the server's own message where no plain words exist.
pub fn error_message(lang: Lang, code: &str, message: &str) -> String {
    let plain = match code {
        "bad_login" => Some(("用户名或密码不对。", "Wrong user name or password.")),
        "locked" => Some((
            "登录失败次数过多，账户已暂时锁定，请稍后再试。",
            "Too many failed logins: the account is locked for a while.",
        )),
        "web_login_not_allowed" => Some((
            "巡查员和采样员请使用手机应用，网页审核台仅供审核员和管理员使用。",
            "Inspectors and samplers use the phone app; the console is for supervisors and admins.",
        )),
        "forbidden" => Some((
            "只有审核员和管理员可以审核记录。",
            "Only supervisors and admins review records.",
        )),
        "out_of_scope" => Some((
            "这条记录不在您负责的区域内。",
            "This record lies outside your org units.",
        )),
        "not_found" => Some(("找不到这条记录。", "No such record.")),
        "csrf" => Some((csrf(Lang::Zh), csrf(Lang::En))),
        _ => None,
    };
    match plain {
        Some((zh, en)) => t(lang, zh, en).to_string(),
        None => message.to_string(),
    }
}

/// A time in milliseconds since 1970 as people read it, in China Standard Time.
pub fn when(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    t.to_offset(time::macros::offset!(+8))
        .format(&fmt)
        .unwrap_or_default()
}

/// The parts of a rule's verdict (`jingtu_model` rules) in plain words; other keys as they are.
pub fn result_key(lang: Lang, key: &str) -> String {
    let (zh, en) = match key {
        "rectified" => ("整治达标", "rectified"),
        "sewage_ok" => ("生活污水治理达标", "sewage treatment met"),
        "bow_ok" => ("黑臭水体整治达标", "black-odorous water met"),
        "water_source_ok" => ("饮用水水源地达标", "water source met"),
        "failed_items" => ("不合格项", "failed items"),
        "open_items" => ("未检查项数", "items not inspected"),
        "facilities_ok" => ("污水设施建成并正常运行", "facilities built and running"),
        "residents_ok" => ("群众认可", "residents approve"),
        "round_dates_ok" => ("检查日期与评估轮次相符", "inspection date fits the round"),
        "survey_below_minimum" => (
            "调查人数不足，问卷途径不作判定",
            "too few respondents: the survey does not classify",
        ),
        "scale_t_d" => ("设施规模（吨/日）", "scale (t/day)"),
        "monitoring_required" => (
            "须每季度巡查、每半年监测",
            "quarterly inspection and half-yearly monitoring owed",
        ),
        "online_duty" => ("在线监控要求", "online monitoring owed"),
        "removal_pct" => ("去除率（%）", "removal (%)"),
        "outlet_exceedances" => ("出水超标", "outlet above limits"),
        "category" => ("类别", "category"),
        "route" => ("判定路径", "route"),
        "class" => ("类别", "class"),
        "ph_band" => ("pH 区间", "pH band"),
        "panel" => (
            "判定项目（镉汞砷铅铬）",
            "deciding panel (Cd, Hg, As, Pb, Cr)",
        ),
        "missing" => ("尚缺检测项目", "not measured yet"),
        "exceedances" => ("超过筛选值（判定项目）", "above screening (deciding)"),
        "monitoring" => (
            "超过筛选值，需加强监测（铜镍锌）",
            "above screening: monitor (Cu, Ni, Zn)",
        ),
        "organics_over" => ("有机项目超过筛选值", "organics above screening"),
        "not_detected" => ("未检出项目", "not detected"),
        other => (other, other),
    };
    t(lang, zh, en).to_string()
}
