//! Signing in with a wallet, as clerk-js's `signIn.authenticateWithWeb3` does it: start a sign-in
//! with the wallet's address, prepare the wallet's strategy for the factor the server offers,
//! have the wallet sign the message handed out, and attempt with the signature.
//!
//! The SDK does not talk to wallets: the caller's signing function does, as clerk-js's
//! `generateSignature` does. For the four Ethereum wallets it answers `personal_sign` of the
//! message (EIP-191, `0x` hex); for Solana, the ed25519 signature of the message's UTF-8 bytes in
//! standard base64.

use crate::error::ClerkError;
use crate::sign_in::{
    AttemptFirstFactor, PrepareFirstFactor, SignIn, SignInBuilder, SignInCreateParams,
};
use crate::strategy::{Strategy, Web3Wallet};
use std::future::Future;

/// What a wallet is asked to sign (clerk-js's `GenerateSignatureParams`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRequest {
    /// The wallet's address, as given to [`SignInBuilder::authenticate_with_web3`].
    pub identifier: String,
    /// The text to sign: `first_factor_verification.message`.
    pub nonce: String,
    pub wallet: Web3Wallet,
}

/// A wallet that did not sign.
pub type SignerError = Box<dyn std::error::Error + Send + Sync>;

impl SignInBuilder {
    /// Signs in with the wallet at `identifier`, `sign` producing the signature. Errors: the
    /// server's (no account has the wallet: `form_identifier_not_found`; a signature that is not
    /// the wallet's: `form_param_value_invalid`), [`ClerkError::Wallet`] when `sign` fails or the
    /// server offers no factor for this wallet.
    pub async fn authenticate_with_web3<F, Fut>(
        &self,
        identifier: &str,
        wallet: Web3Wallet,
        sign: F,
    ) -> Result<SignIn, ClerkError>
    where
        F: FnOnce(SignatureRequest) -> Fut,
        Fut: Future<Output = Result<String, SignerError>>,
    {
        let created = self
            .create(SignInCreateParams::identifier(identifier))
            .await?;
        let strategy = Strategy::Web3(wallet);
        let factor = created.first_factor(&strategy).ok_or_else(|| {
            ClerkError::Wallet(format!("the sign-in offers no {} factor", strategy.as_str()).into())
        })?;
        let web3_wallet_id = factor.web3_wallet_id.clone().ok_or_else(|| {
            ClerkError::Decode(format!("the {} factor names no wallet", strategy.as_str()))
        })?;
        let prepared = created
            .prepare_first_factor(PrepareFirstFactor::Web3 {
                wallet,
                web3_wallet_id,
            })
            .await?;
        let nonce = prepared
            .first_factor_verification
            .as_ref()
            .and_then(|v| v.message.clone())
            .ok_or_else(|| ClerkError::Decode("no message to sign was handed out".into()))?;
        let signature = sign(SignatureRequest {
            identifier: identifier.to_owned(),
            nonce,
            wallet,
        })
        .await
        .map_err(ClerkError::Wallet)?;
        prepared
            .attempt_first_factor(AttemptFirstFactor::Web3 { wallet, signature })
            .await
    }

    /// [`Self::authenticate_with_web3`] with MetaMask.
    pub async fn authenticate_with_metamask<F, Fut>(
        &self,
        identifier: &str,
        sign: F,
    ) -> Result<SignIn, ClerkError>
    where
        F: FnOnce(SignatureRequest) -> Fut,
        Fut: Future<Output = Result<String, SignerError>>,
    {
        self.authenticate_with_web3(identifier, Web3Wallet::Metamask, sign)
            .await
    }

    /// [`Self::authenticate_with_web3`] with Coinbase Wallet.
    pub async fn authenticate_with_coinbase_wallet<F, Fut>(
        &self,
        identifier: &str,
        sign: F,
    ) -> Result<SignIn, ClerkError>
    where
        F: FnOnce(SignatureRequest) -> Fut,
        Fut: Future<Output = Result<String, SignerError>>,
    {
        self.authenticate_with_web3(identifier, Web3Wallet::CoinbaseWallet, sign)
            .await
    }

    /// [`Self::authenticate_with_web3`] with OKX Wallet.
    pub async fn authenticate_with_okx_wallet<F, Fut>(
        &self,
        identifier: &str,
        sign: F,
    ) -> Result<SignIn, ClerkError>
    where
        F: FnOnce(SignatureRequest) -> Fut,
        Fut: Future<Output = Result<String, SignerError>>,
    {
        self.authenticate_with_web3(identifier, Web3Wallet::OkxWallet, sign)
            .await
    }

    /// [`Self::authenticate_with_web3`] with Base.
    pub async fn authenticate_with_base<F, Fut>(
        &self,
        identifier: &str,
        sign: F,
    ) -> Result<SignIn, ClerkError>
    where
        F: FnOnce(SignatureRequest) -> Fut,
        Fut: Future<Output = Result<String, SignerError>>,
    {
        self.authenticate_with_web3(identifier, Web3Wallet::Base, sign)
            .await
    }

    /// [`Self::authenticate_with_web3`] with a Solana wallet.
    pub async fn authenticate_with_solana<F, Fut>(
        &self,
        identifier: &str,
        sign: F,
    ) -> Result<SignIn, ClerkError>
    where
        F: FnOnce(SignatureRequest) -> Fut,
        Fut: Future<Output = Result<String, SignerError>>,
    {
        self.authenticate_with_web3(identifier, Web3Wallet::Solana, sign)
            .await
    }
}
