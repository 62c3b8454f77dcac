package awssts_test

import (
	"fmt"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/provider/awssts"
	"github.com/tarnhq/tarn/location"
)

func ExampleSessionPolicy() {
	loc, _ := location.ParseStorage("s3://acme-data/vision/coco")
	p, err := awssts.SessionPolicy(loc, api.ModeRead, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p)
	// Output:
	// {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::acme-data"],"Condition":{"StringLike":{"s3:prefix":["vision/coco/*"]}}},{"Effect":"Allow","Action":["s3:GetBucketLocation"],"Resource":["arn:aws:s3:::acme-data"]},{"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":["arn:aws:s3:::acme-data/vision/coco/*"]}]}
}

func ExampleSessionName() {
	fmt.Println(awssts.SessionName("acme/alice"))
	// Output: tarn-acme.alice
}

func ExampleProvision() {
	cfg := api.CredsKeyConfig{RoleARN: "arn:aws:iam::123456789012:role/tarn-data", ExternalID: "tarn-3xampleID"}
	_, trust, err := awssts.Provision(cfg, "acme-data", "vision", "", "arn:aws:iam::210987654321:user/tarn")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(trust)
	// Output:
	// {
	//   "Version": "2012-10-17",
	//   "Statement": [
	//     {
	//       "Sid": "TarnAssumeRole",
	//       "Effect": "Allow",
	//       "Principal": {
	//         "AWS": "arn:aws:iam::210987654321:user/tarn"
	//       },
	//       "Action": [
	//         "sts:AssumeRole"
	//       ],
	//       "Condition": {
	//         "StringEquals": {
	//           "sts:ExternalId": [
	//             "tarn-3xampleID"
	//           ]
	//         }
	//       }
	//     }
	//   ]
	// }
}
