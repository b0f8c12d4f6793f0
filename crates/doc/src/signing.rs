//! Signatures of custody events: each device signs the events it writes with an ed25519 key
//! (its own, kept in its store, or a platform key behind [`CustodySigner`]: Android Keystore,
//! the Secure Enclave). The public key is registered with the server at enrollment and goes
//! into every event, covered by the event's hash; the signature is over that hash. So a chain
//! verifies offline on any device, and the server checks that a device's events carry the key
//! it enrolled with.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

/// What signs a device's custody events.
pub trait CustodySigner: Send + Sync {
    /// The ed25519 public key (32 bytes).
    fn public_key(&self) -> Result<[u8; 32], String>;
    /// The ed25519 signature (64 bytes) of `message`.
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], String>;
}

/// An ed25519 key kept by the device itself (in its store).
pub struct DeviceKey(SigningKey);

impl DeviceKey {
    /// A new key from 32 random bytes.
    pub fn generate() -> DeviceKey {
        DeviceKey(SigningKey::from_bytes(&rand::random::<[u8; 32]>()))
    }

    /// The key whose secret is `secret` (32 bytes, as [`DeviceKey::secret`] gave them).
    pub fn from_secret(secret: &[u8]) -> Option<DeviceKey> {
        let bytes: [u8; 32] = secret.try_into().ok()?;
        Some(DeviceKey(SigningKey::from_bytes(&bytes)))
    }

    /// The secret, to keep in the device's store.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl CustodySigner for DeviceKey {
    fn public_key(&self) -> Result<[u8; 32], String> {
        Ok(self.0.verifying_key().to_bytes())
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], String> {
        Ok(self.0.sign(message).to_bytes())
    }
}

/// Whether `key_hex` is an ed25519 public key: 64 hex digits naming a point of the curve.
pub fn is_signing_key(key_hex: &str) -> bool {
    hex::decode(key_hex)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .is_some_and(|b| VerifyingKey::from_bytes(&b).is_ok())
}

/// Whether `signature_hex` is `key_hex`'s signature of `message` (strict verification: no
/// malleable or small-order keys). Malformed hex or keys are simply not valid.
pub fn verify(key_hex: &str, message: &[u8], signature_hex: &str) -> bool {
    let (Ok(key), Ok(sig)) = (hex::decode(key_hex), hex::decode(signature_hex)) else {
        return false;
    };
    let (Ok(key), Ok(sig)) = (<[u8; 32]>::try_from(key), <[u8; 64]>::try_from(sig)) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&sig))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_key_only() {
        let a = DeviceKey::generate();
        let b = DeviceKey::generate();
        let msg = b"3f2a";
        let sig = hex::encode(a.sign(msg).unwrap());
        let ka = hex::encode(a.public_key().unwrap());
        let kb = hex::encode(b.public_key().unwrap());
        assert!(verify(&ka, msg, &sig));
        assert!(!verify(&kb, msg, &sig), "another key");
        assert!(!verify(&ka, b"3f2b", &sig), "another message");
        assert!(!verify(&ka, msg, "00"), "a short signature");
        assert!(!verify("zz", msg, &sig), "not hex");
        let again = DeviceKey::from_secret(&a.secret()).unwrap();
        assert_eq!(again.public_key().unwrap(), a.public_key().unwrap());
        assert!(DeviceKey::from_secret(&[1, 2, 3]).is_none());
        assert!(is_signing_key(&ka) && !is_signing_key("00") && !is_signing_key(&"zz".repeat(32)));
    }
}
