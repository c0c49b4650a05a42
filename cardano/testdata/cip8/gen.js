// Regenerates vectors.json: CIP-30 signData answers (CIP-8 COSE_Sign1 + COSE_Key, hex) made by
// EMURGO's message-signing library, the wire format Cardano wallets return. Keys come from fixed
// seeds and Ed25519 is deterministic, so a rerun writes the same file.
//   cd cardano/testdata/cip8 && npm ci && node gen.js > vectors.json
const MS = require('@emurgo/cardano-message-signing-nodejs');
const CSL = require('@emurgo/cardano-serialization-lib-nodejs');

const hex = (b) => Buffer.from(b).toString('hex');
const key = (byte) => CSL.PrivateKey.from_normal_bytes(Buffer.alloc(32, byte));

const payKey = key(0x11);
const stakeKey = key(0x22);
const payCred = CSL.Credential.from_keyhash(payKey.to_public().hash());
const stakeCred = CSL.Credential.from_keyhash(stakeKey.to_public().hash());

const addresses = {
  base_mainnet: CSL.BaseAddress.new(1, payCred, stakeCred).to_address(),
  base_testnet: CSL.BaseAddress.new(0, payCred, stakeCred).to_address(),
  enterprise_testnet: CSL.EnterpriseAddress.new(0, payCred).to_address(),
  reward_mainnet: CSL.RewardAddress.new(1, stakeCred).to_address(),
};

// signData as CIP-30 specifies it: protected headers {alg: EdDSA, "address": address bytes},
// unprotected {"hashed": hashed}, the payload itself (or its blake2b-224 when hashed), and a
// COSE_Key {kty: OKP, alg: EdDSA, crv: Ed25519, x: public key}.
function signData(address, priv, payload, hashed) {
  const prot = MS.HeaderMap.new();
  prot.set_algorithm_id(MS.Label.from_algorithm_id(MS.AlgorithmId.EdDSA));
  prot.set_header(MS.Label.new_text('address'), MS.CBORValue.new_bytes(address.to_bytes()));
  const unprot = MS.HeaderMap.new();
  unprot.set_header(MS.Label.new_text('hashed'), MS.CBORValue.new_special(MS.CBORSpecial.new_bool(hashed)));
  const headers = MS.Headers.new(MS.ProtectedHeaderMap.new(prot), unprot);
  const builder = MS.COSESign1Builder.new(headers, Buffer.from(payload, 'utf8'), false);
  if (hashed) builder.hash_payload();
  const toSign = builder.make_data_to_sign().to_bytes();
  const signed = builder.build(priv.sign(toSign).to_bytes());

  const coseKey = MS.COSEKey.new(MS.Label.from_key_type(MS.KeyType.OKP));
  coseKey.set_algorithm_id(MS.Label.from_algorithm_id(MS.AlgorithmId.EdDSA));
  coseKey.set_header(MS.Label.new_int(MS.Int.new_negative(MS.BigNum.from_str('1'))),
    MS.CBORValue.new_int(MS.Int.new_i32(6))); // crv: Ed25519
  coseKey.set_header(MS.Label.new_int(MS.Int.new_negative(MS.BigNum.from_str('2'))),
    MS.CBORValue.new_bytes(priv.to_public().as_bytes())); // x
  return { signature: hex(signed.to_bytes()), key: hex(coseKey.to_bytes()), sig_structure: hex(toSign) };
}

const payload = 'tbackend sign-in nonce 3q0c9WzJm7k';
const cases = [
  { name: 'base_mainnet_payment_key', address: 'base_mainnet', signer: 'payment', hashed: false, valid: true },
  { name: 'base_testnet_payment_key', address: 'base_testnet', signer: 'payment', hashed: false, valid: true },
  { name: 'enterprise_testnet_payment_key', address: 'enterprise_testnet', signer: 'payment', hashed: false, valid: true },
  { name: 'reward_mainnet_stake_key', address: 'reward_mainnet', signer: 'stake', hashed: false, valid: true },
  { name: 'base_mainnet_stake_key', address: 'base_mainnet', signer: 'stake', hashed: false, valid: false,
    why: 'a base address is proven by its payment key, not its stake key' },
  { name: 'base_mainnet_payment_key_hashed', address: 'base_mainnet', signer: 'payment', hashed: true, valid: false,
    why: 'a hashed payload cannot be compared with the nonce' },
];

const out = {
  generator: 'gen.js with @emurgo/cardano-message-signing-nodejs 1.1.0 and @emurgo/cardano-serialization-lib-nodejs 15.0.3',
  payload,
  keys: {
    payment_public: hex(payKey.to_public().as_bytes()),
    payment_key_hash: hex(payKey.to_public().hash().to_bytes()),
    stake_public: hex(stakeKey.to_public().as_bytes()),
    stake_key_hash: hex(stakeKey.to_public().hash().to_bytes()),
  },
  cases: cases.map((c) => {
    const addr = addresses[c.address];
    const priv = c.signer === 'payment' ? payKey : stakeKey;
    return { ...c, address: addr.to_bech32(), address_hex: hex(addr.to_bytes()), ...signData(addr, priv, payload, c.hashed) };
  }),
};
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
