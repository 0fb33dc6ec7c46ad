//! The command line: `chat-gui [--server HOST:PORT] [--name NAME]`, `--help`, `--version`.

/// What `--help` prints.
pub const USAGE: &str = "usage: chat-gui [--server HOST:PORT] [--name NAME] [--size WIDTHxHEIGHT]

The desktop client of the UDP group chat. With --name (and --server) given it joins at once;
otherwise it opens on the connect screen, with the last address and name filled in.

  --server HOST:PORT  the room to join (default: the last one, else 127.0.0.1:8888)
  --name NAME         the name to join with
  --size WxH          the window's size in points to start with (default 820x560)
  -h, --help          print this and exit
  -V, --version       print the version and exit

It needs a display (X11 or Wayland). Chinese text needs a CJK font: install fonts-noto-cjk.
";

/// Join at once with these (from the command line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoJoin {
    /// Server address.
    pub server: Option<String>,
    /// Name.
    pub name: Option<String>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open the window.
    Run {
        /// Join at once with these.
        auto: AutoJoin,
        /// The window's size to start with.
        size: Option<[f32; 2]>,
    },
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
}

/// Reads the arguments (without the program name).
///
/// # Errors
///
/// An unknown option, or an option without its value, in words.
pub fn parse(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut a = AutoJoin::default();
    let mut size = None;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--server" | "--name" | "--size" => {
                let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
                match arg.as_str() {
                    "--server" => a.server = Some(value),
                    "--name" => a.name = Some(value),
                    _ => size = Some(parse_size(&value)?),
                }
            }
            other => return Err(format!("unknown argument {other:?} (--help lists the options)")),
        }
    }
    Ok(Command::Run { auto: a, size })
}

/// `WIDTHxHEIGHT`, each at least the smallest window ([`crate::MIN_WINDOW`]).
fn parse_size(s: &str) -> Result<[f32; 2], String> {
    let bad = || format!("--size {s:?}: expected WIDTHxHEIGHT, e.g. 420x320");
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let (w, h): (u16, u16) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    let [min_w, min_h] = crate::MIN_WINDOW;
    Ok([f32::from(w).max(min_w), f32::from(h).max(min_h)])
}

impl AutoJoin {
    /// Reads `--server ADDR:PORT` and `--name NAME`, ignoring anything else.
    pub fn from_args(args: impl Iterator<Item = String>) -> AutoJoin {
        match parse(args) {
            Ok(Command::Run { auto, .. }) => auto,
            _ => AutoJoin::default(),
        }
    }
}

/// Whether there is a display to open a window on (`DISPLAY` or `WAYLAND_DISPLAY` set).
pub fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Command, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn help_and_version_win_and_bad_arguments_are_named() {
        assert_eq!(args(&["--name", "ann", "--help"]), Ok(Command::Help));
        assert_eq!(args(&["-V"]), Ok(Command::Version));
        assert_eq!(
            args(&["--server", "1.2.3.4:5", "--name", "小明", "--size", "420x320"]),
            Ok(Command::Run {
                auto: AutoJoin { server: Some("1.2.3.4:5".into()), name: Some("小明".into()) },
                size: Some([420.0, 320.0]),
            })
        );
        assert!(args(&["--size", "wide"]).unwrap_err().contains("expected WIDTHxHEIGHT"));
        assert!(args(&["--name"]).unwrap_err().contains("--name needs a value"));
        assert!(args(&["--colour"]).unwrap_err().contains("\"--colour\""));
    }
}
