// Package cardano holds the small, dependency-light pieces of Cardano the token-analysis and
// payments workers need, written from the published specifications:
//
//   - bech32 (BIP-173 checksum without the 90-character limit) and CIP-14 asset fingerprints;
//   - CIP-19 addresses (Shelley types 0–7, reward types 14–15, Byron base58), see [ParseAddress];
//   - native scripts in their JSON form and an exact mint-lock evaluator, see [ParseNativeScript]
//     and [Lock];
//   - signed transactions in CBOR from Shelley to Conway, see [DecodeTx].
//
// Every decoder here treats its input as hostile: sizes and nesting are bounded, errors wrap one
// of the sentinel errors ([ErrBech32], [ErrAddress], [ErrScript], [ErrTx]) and nothing panics
// (fuzz tests guard that).
package cardano
