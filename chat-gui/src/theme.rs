//! Light or dark: following the system (the default), or chosen.

use egui::ThemePreference;

/// "Theme: System · Light · Dark", for the whole app.
pub fn theme_switch(ui: &mut egui::Ui) {
    let mut pref = ui.ctx().options(|o| o.theme_preference);
    let before = pref;
    ui.horizontal(|ui| {
        ui.label("Theme");
        for (value, text) in [
            (ThemePreference::System, "System"),
            (ThemePreference::Light, "Light"),
            (ThemePreference::Dark, "Dark"),
        ] {
            ui.selectable_value(&mut pref, value, text);
        }
    });
    if pref != before {
        ui.ctx().set_theme(pref);
    }
}

/// One small button that steps System → Light → Dark, for the chat screen's status bar.
pub fn theme_button(ui: &mut egui::Ui) {
    let pref = ui.ctx().options(|o| o.theme_preference);
    let (text, next) = match pref {
        ThemePreference::System => ("Theme: system", ThemePreference::Light),
        ThemePreference::Light => ("Theme: light", ThemePreference::Dark),
        ThemePreference::Dark => ("Theme: dark", ThemePreference::System),
    };
    if ui.button(text).on_hover_text("Follow the system, or choose light or dark").clicked() {
        ui.ctx().set_theme(next);
    }
}
