package cardano

import (
	"encoding/json"
	"testing"

	"github.com/tbackend/tbackend/internal/testfiles"
)

// readFixture reads testdata/cardano/<name> at the repository root.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	return testfiles.Read(t, "cardano", name)
}

func loadJSONFixture(t testing.TB, name string, v any) {
	t.Helper()
	if err := json.Unmarshal(readFixture(t, name), v); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
}

type addressFixture struct {
	Vectors []struct {
		Network     string `json:"network"`
		NetworkTag  int    `json:"network_tag"`
		Type        int    `json:"type"`
		Bech32      string `json:"bech32"`
		HRP         string `json:"hrp"`
		HeaderHex   string `json:"header_hex"`
		Hex         string `json:"hex"`
		Length      int    `json:"length"`
		PaymentPart string `json:"payment_part"`
		DelegPart   string `json:"delegation_part"`
		PaymentCred string `json:"payment_credential_hex"`
		DelegCred   string `json:"delegation_credential_hex"`
		StakeCred   string `json:"stake_credential_hex"`
		Pointer     *struct {
			Slot      uint64 `json:"slot"`
			TxIndex   uint64 `json:"tx_index"`
			CertIndex uint64 `json:"cert_index"`
		} `json:"pointer"`
	} `json:"vectors"`
	Examples []struct {
		Kind       string `json:"kind"`
		Text       string `json:"text"`
		HRP        string `json:"hrp"`
		Hex        string `json:"hex"`
		HeaderType int    `json:"header_type"`
		NetworkTag *int   `json:"network_tag"`
		Note       string `json:"note"`
	} `json:"examples"`
}

type assetFixture struct {
	PolicyID     string `json:"policy_id"`
	AssetNameHex string `json:"asset_name_hex"`
	Unit         string `json:"unit"`
	Quantity     int64  `json:"quantity"`
}

type txFixture struct {
	Name         string  `json:"name"`
	Era          string  `json:"era"`
	CBORHex      string  `json:"cbor_hex"`
	TxID         *string `json:"tx_id"`
	TxIDComputed string  `json:"tx_id_computed"`
	BodyOffset   [2]int  `json:"body_offset"`
	TopLevel     int     `json:"top_level_elements"`
	Inputs       []struct {
		TxID  string `json:"tx_id"`
		Index uint32 `json:"index"`
	} `json:"inputs"`
	Fee           uint64         `json:"fee"`
	TTL           *uint64        `json:"ttl"`
	Mint          []assetFixture `json:"mint"`
	IsValid       *bool          `json:"is_valid"`
	AuxiliaryData *struct {
		Form           string   `json:"form"`
		MetadataLabels []uint64 `json:"metadata_labels"`
		CIP20Msg       []string `json:"cip20_msg"`
	} `json:"auxiliary_data"`
	Outputs []struct {
		Form        string         `json:"form"`
		AddressHex  string         `json:"address_hex"`
		Address     string         `json:"address"`
		HeaderType  int            `json:"address_header_type"`
		Lovelace    uint64         `json:"lovelace"`
		Assets      []assetFixture `json:"assets"`
		DatumOption string         `json:"datum_option"`
		ScriptRef   any            `json:"script_ref"`
	} `json:"outputs"`
}

func loadTxFixtures(t testing.TB) []txFixture {
	t.Helper()
	var f struct {
		Transactions []txFixture `json:"transactions"`
		Mismatches   []any       `json:"mismatches"`
	}
	loadJSONFixture(t, "transactions.json", &f)
	if len(f.Transactions) == 0 {
		t.Fatal("transactions.json holds no transactions")
	}
	return f.Transactions
}
