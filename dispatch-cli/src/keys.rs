//! `dispatch keygen`, and reading keys for the other commands.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use dispatch_core::key;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::{Failure, Outcome};

/// Arguments of `dispatch keygen`.
#[derive(Args, Debug)]
pub(crate) struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600).
    #[arg(long, default_value = "dispatch-private.pem")]
    private_key: PathBuf,
    /// Where to write the public key (SubjectPublicKeyInfo PEM).
    #[arg(long, default_value = "dispatch-public.pem")]
    public_key: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

/// Writes a fresh key pair and prints the base64 public key on stdout.
pub(crate) fn keygen(args: &KeygenArgs) -> Outcome {
    let key = generate()?;
    let mut private_pem = String::new();
    key::write_private_key_pem(&key, &mut private_pem)
        .map_err(|_| Failure::error("cannot render the private key"))?;
    let mut public_pem = String::new();
    key::write_public_key_pem(&key.verifying_key(), &mut public_pem)
        .map_err(|_| Failure::error("cannot render the public key"))?;
    write_new(&args.private_key, private_pem.as_bytes(), args.force, true)?;
    write_new(&args.public_key, public_pem.as_bytes(), args.force, false)?;
    let base64 = public_base64(&key.verifying_key())?;
    eprintln!(
        "wrote {} (private, keep it secret) and {} (public)",
        args.private_key.display(),
        args.public_key.display()
    );
    eprintln!("endpoints verify with: DISPATCH_VERIFICATION_KEY={base64}");
    eprintln!(
        "the scheduler signs with: dispatch scheduler --signing-key {}",
        args.private_key.display()
    );
    println!("{base64}");
    Ok(0)
}

/// A new signing key from the operating system's random source.
pub(crate) fn generate() -> Result<SigningKey, Failure> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Failure::error(format!("no randomness from the operating system: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    Ok(key)
}

/// The standard base64 of a public key: the form DISPATCH_VERIFICATION_KEY takes.
pub(crate) fn public_base64(key: &VerifyingKey) -> Result<String, Failure> {
    let mut text = String::new();
    key::write_public_key_base64(key, &mut text)
        .map_err(|_| Failure::error("cannot render the public key"))?;
    Ok(text)
}

/// Writes `bytes` to a new file (an existing one only with `force`), with
/// mode 0600 when `private`.
fn write_new(path: &Path, bytes: &[u8], force: bool, private: bool) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::error(format!(
                "{} exists; pass --force to overwrite it",
                path.display()
            ))
        } else {
            Failure::error(format!("cannot write {}: {e}", path.display()))
        }
    })?;
    file.write_all(bytes)
        .map_err(|e| Failure::error(format!("cannot write {}: {e}", path.display())))
}

/// Reads a private key file: PKCS#8 PEM, or the base64 of a 32-byte seed.
pub(crate) fn read_signing_key(path: &Path) -> Result<SigningKey, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))?;
    key::parse_signing_key(&text).map_err(|e| {
        Failure::error(format!(
            "{} is not an Ed25519 private key: {e}",
            path.display()
        ))
    })
}

/// Reads a public key given as text (PEM or base64) or as the path of a file
/// holding it.
pub(crate) fn read_verifying_key(text_or_path: &str) -> Result<VerifyingKey, Failure> {
    let (text, source) = key_text_or_file(text_or_path)?;
    key::parse_public_key(&text)
        .map_err(|e| Failure::error(format!("{source} is not an Ed25519 public key: {e}")))
}

/// A key given as its text, or as the path of a file holding it: the text,
/// and how to name where it came from in an error.
pub(crate) fn key_text_or_file(text_or_path: &str) -> Result<(String, String), Failure> {
    let path = Path::new(text_or_path);
    if !text_or_path.contains('\n') && path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))?;
        Ok((text, format!("{}", path.display())))
    } else {
        Ok((text_or_path.to_owned(), "the key".to_owned()))
    }
}
