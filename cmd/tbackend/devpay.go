package main

import (
	"crypto/ed25519"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tbackend/tbackend/cardano"
	"github.com/tbackend/tbackend/payments"
)

//go:embed devpayments.yaml
var devPaymentsYAML string

// devWalletLovelace is what the dev wallet is given at every start: 1000 ADA.
const devWalletLovelace = 1_000_000_000

// devWallet is the funded wallet `tbackend dev` prints for `tbackend pay`.
type devWallet struct {
	path    string // its signing key, a cardano-cli text envelope
	address string
}

// devPayments turns pay-per-call on when the chain is emulated: with PAYMENTS_CONFIG when set
// (off: no payments), else with the embedded example paying to an address of the emulated
// chain. It funds the dev
// wallet (its key kept in DEV_WALLET across starts) so the 402 loop can be tried by hand. On a
// real chain only PAYMENTS_CONFIG turns payments on: a made-up pay_to would take real money.
func (s *service) devPayments() error {
	if s.emu == nil || s.cfg.Payments == paymentsOff {
		return nil
	}
	if s.cfg.Payments == "" {
		text := strings.NewReplacer("NETWORK", s.cfg.Network.String(), "PAY_TO", s.emu.Address("dev-shop")).Replace(devPaymentsYAML)
		pc, err := payments.Parse([]byte(text), ".yaml")
		if err != nil {
			return fmt.Errorf("embedded dev payments configuration: %w", err) // a bug: the test catches it
		}
		s.cfg.Pay = pc
		s.log.Warn("PAYMENTS_CONFIG is unset: pay-per-call uses the embedded dev configuration on the emulated chain", "pay_to", pc.PayTo)
	}
	key, err := loadOrCreateKey(s.cfg.DevWallet)
	if err != nil {
		return &configError{"DEV_WALLET", err.Error()}
	}
	addr := cardano.EnterpriseAddress(key.Public().(ed25519.PublicKey), s.cfg.Network.AddressNetwork()).Bech32()
	if _, err := s.emu.Fund(addr, devWalletLovelace); err != nil {
		return fmt.Errorf("fund the dev wallet: %w", err)
	}
	s.wallet = &devWallet{path: s.cfg.DevWallet, address: addr}
	return nil
}

// loadOrCreateKey reads the signing key at path, or makes one there (readable by its owner only).
func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return cardano.ParseSigningKey(data)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(cardano.SigningKeyEnvelope(key, "tbackend dev wallet (emulated chain only)"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return key, err
}
