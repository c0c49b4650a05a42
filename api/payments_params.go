package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/tbackend/tbackend/payments"
)

// pricedImageRoute is the route whose price follows its request (payments.PriceRule): its body
// is read before the invoice, so that the invoice prices, and binds, what was asked.
const pricedImageRoute = "/images/generate"

// requestParams reads the priced parameters of a call without an api-key. For image generation
// that means reading and validating the body here (a request that would get 422 is refused
// before any invoice or payment check); the body is put back for the handler.
func (s *Server) requestParams(c *fiber.Ctx, route string) (payments.Params, error) {
	if route != pricedImageRoute {
		return payments.Params{}, nil
	}
	raw, err := readBody(c, imageJSONLimit)
	if err != nil {
		return payments.Params{}, err
	}
	c.Request().SetBody(raw)
	req := &imageRequest{kind: kindGenerate, model: s.imageModel()}
	if err := decodeJSONBody(raw, req); err != nil {
		return payments.Params{}, err
	}
	return req.params(), nil
}

// standardParams are the priced parameters of a call that names none (POST /payments/invoice).
func (s *Server) standardParams(route string) payments.Params {
	if route != pricedImageRoute {
		return payments.Params{}
	}
	return (&imageRequest{kind: kindGenerate, model: s.imageModel()}).params()
}

// params are the request's priced parameters with the defaults the job would use.
func (r *imageRequest) params() payments.Params {
	p := r.payload()
	return payments.Params{N: p.N, Size: p.Size, Quality: p.Quality, Model: p.Model}
}
