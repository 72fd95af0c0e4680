//! The benchmark's native echo function: when this binary runs as `bootstrap` (the name of
//! a `provided` runtime's entry point), it is a minimal Runtime API client that answers every
//! event with the event itself. `lamina bench` deploys a copy of its own binary this way, so
//! measuring a native function needs no toolchain. Blocking and single-threaded on purpose:
//! it is the leanest possible runtime, the floor the platform's overhead is judged against.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Whether the binary was started as a `provided` runtime's bootstrap.
pub fn invoked_as_bootstrap() -> bool {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n == "bootstrap")
        })
        .unwrap_or(false)
        && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Runs the echo loop until the Runtime API goes away.
pub fn run() -> ! {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
    let code = match serve(&api) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("echo runtime: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn serve(api: &str) -> io::Result<()> {
    let stream = TcpStream::connect(api)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        writer.write_all(
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: runtime\r\n\r\n",
        )?;
        let (status, request_id, body) = read_response(&mut reader)?;
        if status != 200 {
            return Ok(());
        }
        let head = format!(
            "POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: runtime\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        writer.write_all(head.as_bytes())?;
        writer.write_all(&body)?;
        read_response(&mut reader)?;
    }
}

fn read_response(reader: &mut BufReader<TcpStream>) -> io::Result<(u16, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "runtime api closed",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (mut length, mut request_id) = (0usize, String::new());
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                request_id = value.trim().to_string();
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok((status, request_id, body))
}
