//! Chinese (CJK) text: egui's bundled fonts have no CJK glyphs, so at start a CJK-capable system
//! font is looked for and added as the last fallback of both the proportional and the monospace
//! family. Latin text keeps egui's fonts; only characters they lack come from the fallback.
//!
//! Where it looks: fontconfig (`fc-match 'sans:lang=zh-cn'`, when the tool is installed and it
//! names a font that covers Chinese), then the files of the usual packages (Noto Sans CJK /
//! Source Han Sans, WenQuanYi, Droid Sans Fallback).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The Debian/Ubuntu package that gives Chinese text.
pub const CJK_PACKAGE: &str = "fonts-noto-cjk";

/// Font files known to cover Chinese, with the face to use in a collection (`.ttc`): the
/// Simplified Chinese face of Noto Sans CJK / Source Han Sans is the third.
const KNOWN_FONTS: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf", 0),
    ("/usr/share/fonts/noto-cjk/NotoSansCJKsc-Regular.otf", 0),
    ("/usr/share/fonts/adobe-source-han-sans/SourceHanSans-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/source-han-sans/SourceHanSans-Regular.ttc", 2),
    ("/usr/share/fonts/adobe-source-han-sans/SourceHanSansCN-Regular.otf", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallback.ttf", 0),
    ("/usr/share/fonts/google-droid/DroidSansFallback.ttf", 0),
];

/// A font file (and the face in it) that covers Chinese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CjkFont {
    /// The file.
    pub path: PathBuf,
    /// The face in a collection (`.ttc`); 0 for a single font.
    pub index: u32,
}

/// Looks for a CJK-capable font on this machine (see the module docs for where).
pub fn find_cjk_font() -> Option<CjkFont> {
    ask_fontconfig().or_else(|| {
        KNOWN_FONTS
            .iter()
            .find(|(p, _)| Path::new(p).is_file())
            .map(|&(p, index)| CjkFont { path: p.into(), index })
    })
}

/// fontconfig's choice for Chinese sans-serif text, when the font it names covers Chinese
/// (without a CJK font it still names one, e.g. DejaVu Sans).
fn ask_fontconfig() -> Option<CjkFont> {
    let out = std::process::Command::new("fc-match")
        .args(["-f", "%{file}\n%{index}\n%{lang}\n", "sans:lang=zh-cn"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut parts = text.lines();
    let (path, index, langs) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    let covers_chinese = langs.split('|').any(|l| l == "zh-cn" || l == "zh");
    let path = PathBuf::from(path);
    (covers_chinese && path.is_file()).then(|| CjkFont { path, index: index.trim().parse().unwrap_or(0) })
}

/// The font found at start, read once per process (the file can be tens of megabytes).
fn cjk_font_data() -> Option<&'static (CjkFont, egui::FontData)> {
    static FONT: OnceLock<Option<(CjkFont, egui::FontData)>> = OnceLock::new();
    FONT.get_or_init(|| {
        let font = find_cjk_font()?;
        let bytes = std::fs::read(&font.path).ok()?;
        let data = egui::FontData::from_blob(Arc::new(bytes), font.index);
        Some((font, data))
    })
    .as_ref()
}

/// Adds the CJK font found on this machine as the last fallback for proportional and monospace
/// text. Returns the one-time note for the user when there is none.
pub fn install_cjk_fallback(ctx: &egui::Context) -> Option<String> {
    match cjk_font_data() {
        Some((_, data)) => {
            add_fallback(ctx, data.clone());
            None
        }
        None => Some(missing_font_note()),
    }
}

/// The note shown when no CJK font is found.
pub fn missing_font_note() -> String {
    format!(
        "No Chinese (CJK) font was found, so Chinese text shows as boxes. Install the {CJK_PACKAGE} \
         package (sudo apt install {CJK_PACKAGE}) and start chat-gui again."
    )
}

/// Adds `data` as the last fallback of both families.
pub fn add_fallback(ctx: &egui::Context, data: egui::FontData) {
    use egui::{FontInsert, FontPriority, InsertFontFamily};
    let families = [egui::FontFamily::Proportional, egui::FontFamily::Monospace]
        .into_iter()
        .map(|family| InsertFontFamily { family, priority: FontPriority::Lowest })
        .collect();
    ctx.add_font(FontInsert::new("cjk-fallback", data, families));
}

/// The path of the CJK font in use, if any (for the About line and the tests).
pub fn cjk_font_in_use() -> Option<&'static CjkFont> {
    cjk_font_data().map(|(f, _)| f)
}
