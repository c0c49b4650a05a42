package api

import (
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tbackend/tbackend/payments"
	"github.com/tbackend/tbackend/storage/ledger"
)

// Every refusal code a 402 can carry is in the document's enum, and the enum names no other.
func TestRefusalCodesAreDocumented(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, v := range doc.Components.Schemas["InvoiceDetail"].Value.Properties["error"].Value.Enum {
		documented = append(documented, v.(string))
	}
	emitted := append(slices.Clone(payments.Codes), ledger.ErrNoCredits.Error())
	slices.Sort(documented)
	slices.Sort(emitted)
	if !slices.Equal(documented, emitted) {
		t.Fatalf("documented refusal codes %v, emitted %v", documented, emitted)
	}
}
