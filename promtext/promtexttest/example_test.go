package promtexttest_test

import (
	"fmt"

	"amaters-server/promtext/promtexttest"
)

func ExampleCheck() {
	err := promtexttest.Check([]byte(`# TYPE h histogram
h_bucket{le="1"} 5
h_bucket{le="+Inf"} 4
h_sum 2
h_count 4
`))
	fmt.Println(err)
	// Output:
	// line 3: histogram h: bucket le="+Inf" count 4 is less than the previous bucket's 5 (buckets are cumulative)
}
