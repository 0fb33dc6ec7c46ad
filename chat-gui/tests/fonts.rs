//! Chinese text: the system CJK font is a fallback for both families, so 你好，世界 is drawn
//! with real glyphs, not boxes; without one, the connect screen names the package to install.

use chat_gui::{AutoJoin, ChatApp};
use egui::{FontFamily, FontId};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

const CHINESE: &str = "你好，世界";

fn app() -> Harness<'static, ChatApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(820.0, 560.0))
        .build_eframe(|cc| ChatApp::new(cc, AutoJoin::default()));
    h.step();
    h
}

/// The alpha of the atlas pixels of `c`'s glyph, as laid out in `font`.
fn rendered_glyph(ctx: &egui::Context, font: &FontId, c: char) -> Vec<u8> {
    let galley = ctx.fonts_mut(|f| f.layout_no_wrap(c.to_string(), font.clone(), egui::Color32::WHITE));
    let glyph = galley.rows[0].glyphs[0];
    let image = ctx.fonts(|f| f.image());
    let (min, max) = (glyph.uv_rect.min, glyph.uv_rect.max);
    let mut px = Vec::new();
    for y in usize::from(min[1])..usize::from(max[1]) {
        for x in usize::from(min[0])..usize::from(max[0]) {
            px.push(image[(x, y)].a());
        }
    }
    px
}

#[test]
fn the_fallback_font_gives_real_and_different_glyphs_for_chinese() {
    let h = app();
    let font = chat_gui::fonts::cjk_font_in_use();
    assert!(
        font.is_some(),
        "no CJK font found on this machine: install {} (ci/test does)",
        chat_gui::fonts::CJK_PACKAGE
    );
    assert!(h.state().font_note.is_none(), "no note when a font was found");
    let ctx = h.ctx.clone();
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        let id = FontId::new(16.0, family.clone());
        assert!(ctx.fonts_mut(|f| f.has_glyphs(&id, CHINESE)), "{family:?} lacks glyphs for {CHINESE}");
        let (ni, hao) = (rendered_glyph(&ctx, &id, '你'), rendered_glyph(&ctx, &id, '好'));
        assert!(ni.iter().any(|&a| a > 0), "{family:?}: 你 draws nothing");
        assert_ne!(ni, hao, "{family:?}: 你 and 好 draw the same (a box for both?)");
    }
}

#[test]
fn chinese_names_and_lines_are_shown_as_text() {
    let mut h = app();
    let mut view = chat_gui::chat::ChatView::new("127.0.0.1:8888".into(), "小明".into());
    view.apply(&chat_core::protocol::Event::Line {
        ts: 0,
        from: "张伟".into(),
        text: CHINESE.into(),
        history: false,
    });
    h.state_mut().chat = Some(view);
    h.step();
    h.step();
    assert!(h.query_by_label(CHINESE).is_some());
    assert!(h.query_by_label("张伟:").is_some());
    assert!(h.query_by_label("小明 (you)").is_some());
}

#[test]
fn without_a_cjk_font_the_connect_screen_names_the_package_once() {
    let mut h = app();
    h.state_mut().font_note = Some(chat_gui::fonts::missing_font_note());
    h.step();
    assert!(
        h.query_by_label_contains("Chinese text shows as boxes. Install the fonts-noto-cjk package")
            .is_some()
    );
    h.check_accessibility();
    h.get_by_label("OK").click();
    h.step();
    h.step();
    assert!(h.query_by_label_contains("fonts-noto-cjk").is_none(), "dismissed for good");
}
