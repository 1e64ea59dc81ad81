// A small function every backend can compile: out[i] = a[i] * b[i] + 2 * a[i].
func.func @add_scale(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %two = arith.constant dense<2.0> : tensor<4xf32>
  %product = arith.mulf %a, %b : tensor<4xf32>
  %scaled = arith.mulf %a, %two : tensor<4xf32>
  %sum = arith.addf %product, %scaled : tensor<4xf32>
  return %sum : tensor<4xf32>
}
