//! `chat-gui`: the desktop chat client (`chat-gui --help` for the options).

use std::process::ExitCode;

fn main() -> ExitCode {
    // First, before winit and the GL driver start threads: "Host a room here" starts its room
    // through the fork server, a copy of the program as it is now. A failure here shows again,
    // as an error, when a room is hosted.
    let _ = mp_core::forkserver::start();
    match chat_gui::args::parse(std::env::args().skip(1)) {
        Ok(chat_gui::args::Command::Help) => {
            print!("{}", chat_gui::args::USAGE);
            ExitCode::SUCCESS
        }
        Ok(chat_gui::args::Command::Version) => {
            println!("chat-gui {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(chat_gui::args::Command::Run { auto, size }) => match chat_gui::run(auto, size) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("chat-gui: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("chat-gui: {e}");
            ExitCode::from(2)
        }
    }
}
