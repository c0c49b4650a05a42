package main

import "context"

// measurePayments is figure 6: a paid retry (the 402 invoice paid with a confirmed transaction,
// then the call repeated with X-Payment) against the same call with an api-key. Payments are
// not wired into the service yet (PAYMENTS_CONFIG): the figure says so rather than inventing
// numbers. To plug it in: start the api with PAYMENTS_CONFIG (env.serviceEnv), pay invoices on
// the Blockfrost emulator (blockfrostemu AddTx/AdvanceTip), time both calls with drive, and
// return versus(…).want(targetAddedMax, 30).
func measurePayments(context.Context, *env, sizes) ([]row, error) {
	return []row{notMeasured("paid retry latency p50", "ms", "payments not configured")}, nil
}
